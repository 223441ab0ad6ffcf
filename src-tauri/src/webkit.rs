//! WebKitGTK settings the window needs that neither Tauri nor the `webkit2gtk` crate exposes.

use std::ffi::{CStr, c_char, c_int, c_void};

use webkit2gtk::WebViewExt;
use webkit2gtk::glib::object::ObjectType;

/// WebKit's name for scrolling `overflow: auto` boxes in a compositing layer of their own.
const ASYNC_OVERFLOW_SCROLLING: &str = "AsyncOverflowScrolling";

/// Scrolls the page's `overflow: auto` areas (the screen under the header, the log, the
/// details panel) by repainting them instead of giving each its own compositing layer.
///
/// With that layer, WebKitGTK paints a scrolling area's whole content ahead of time, twice
/// over when it paints with the CPU (its buffer and the compositor's texture): the Setup
/// screen's list of checks held about 19 MB of the web process, a third of its anonymous
/// memory (README, "Start-up and memory of the release app"). These areas hold text and
/// boxes, which repaint fast enough while scrolling; the mesh graph is a canvas and does not
/// scroll this way. The switch is one of WebKitGTK's feature flags (2.42 and later), which
/// the `webkit2gtk` crate does not bind, so the functions are looked up in the running
/// process: with an older WebKitGTK they are missing and nothing changes.
pub fn scroll_overflow_without_layers(view: &webkit2gtk::WebView) {
    let _span = tracing::info_span!("webkit_feature", feature = ASYNC_OVERFLOW_SCROLLING).entered();
    let Some(settings) = view.settings() else {
        tracing::warn!("the web view has no settings; scrolling areas keep their layers");
        return;
    };
    match set_feature(settings.as_ptr().cast(), ASYNC_OVERFLOW_SCROLLING, false) {
        Ok(true) => tracing::info!("scrolling areas repaint instead of keeping their own layers"),
        Ok(false) => tracing::info!("this WebKitGTK has no such feature; left as it is"),
        Err(e) => {
            tracing::info!(error = %e, "WebKitGTK has no feature flags (older than 2.42); left as it is")
        }
    }
}

type AllFeatures = unsafe extern "C" fn() -> *mut c_void;
type ListLength = unsafe extern "C" fn(*mut c_void) -> usize;
type ListGet = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type ListUnref = unsafe extern "C" fn(*mut c_void);
type Identifier = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type SetEnabled = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int);

/// Sets WebKit feature `name` on `settings` (a `WebKitSettings*`); `Ok(false)` when this
/// WebKit has no feature of that name.
fn set_feature(
    settings: *mut c_void,
    name: &str,
    enabled: bool,
) -> Result<bool, libloading::Error> {
    let this = program();
    // SAFETY: the signature of WebKitGTK's `webkit_settings_set_feature_enabled`
    // (WebKitSettings.h, 2.42 and later); `settings` is the caller's live settings object.
    let set_enabled = unsafe { this.get::<SetEnabled>(b"webkit_settings_set_feature_enabled\0")? };
    let done = with_feature(&this, name, |feature| {
        // SAFETY: as above; `feature` is alive for the call.
        unsafe { set_enabled(settings, feature, c_int::from(enabled)) }
    })?;
    Ok(done.is_some())
}

/// The program itself: libwebkit2gtk is loaded with it, as the window needs it.
fn program() -> libloading::os::unix::Library {
    libloading::os::unix::Library::this()
}

/// Calls `f` with WebKit's feature `name` (a `WebKitFeature*`, valid during the call);
/// `None` when there is no such feature.
fn with_feature<R>(
    this: &libloading::os::unix::Library,
    name: &str,
    f: impl FnOnce(*mut c_void) -> R,
) -> Result<Option<R>, libloading::Error> {
    // SAFETY: the signatures are those of WebKitGTK's public C API (webkit/WebKitFeature.h,
    // WebKitSettings.h, 2.42 and later); the list is ours to release (transfer full), and the
    // feature it hands out is used before that.
    unsafe {
        let all = this.get::<AllFeatures>(b"webkit_settings_get_all_features\0")?;
        let length = this.get::<ListLength>(b"webkit_feature_list_get_length\0")?;
        let get = this.get::<ListGet>(b"webkit_feature_list_get\0")?;
        let unref = this.get::<ListUnref>(b"webkit_feature_list_unref\0")?;
        let identifier = this.get::<Identifier>(b"webkit_feature_get_identifier\0")?;
        let list = all();
        if list.is_null() {
            return Ok(None);
        }
        let found = (0..length(list)).map(|i| get(list, i)).find(|&feature| {
            let id = identifier(feature);
            !id.is_null() && CStr::from_ptr(id).to_bytes() == name.as_bytes()
        });
        let out = found.map(f);
        unref(list);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type GetEnabled = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;

    fn enabled(settings: *mut c_void, name: &str) -> Option<bool> {
        let this = program();
        // SAFETY: `webkit_settings_get_feature_enabled` (WebKitSettings.h, 2.42 and later).
        let get = unsafe {
            this.get::<GetEnabled>(b"webkit_settings_get_feature_enabled\0")
                .unwrap()
        };
        // SAFETY: as above, with live settings and feature.
        with_feature(
            &this,
            name,
            |feature| unsafe { get(settings, feature) } != 0,
        )
        .unwrap()
    }

    #[test]
    #[ignore = "needs a display: `make e2e` runs it under Xvfb"]
    fn turns_webkits_overflow_scrolling_layers_off_and_says_when_a_feature_is_unknown() {
        // WebKit's settings read GTK's (fonts), which needs a display.
        gtk::init().expect("GTK needs a display: run this test under xvfb-run");
        let settings = webkit2gtk::Settings::new();
        let ptr: *mut c_void = settings.as_ptr().cast();
        // On by default in the WebKitGTK this app is built against (2.42 and later).
        assert_eq!(enabled(ptr, ASYNC_OVERFLOW_SCROLLING), Some(true));
        assert!(set_feature(ptr, ASYNC_OVERFLOW_SCROLLING, false).unwrap());
        assert_eq!(enabled(ptr, ASYNC_OVERFLOW_SCROLLING), Some(false));
        assert!(set_feature(ptr, ASYNC_OVERFLOW_SCROLLING, true).unwrap());
        assert_eq!(enabled(ptr, ASYNC_OVERFLOW_SCROLLING), Some(true));
        // A name WebKit does not have changes nothing and says so.
        assert!(!set_feature(ptr, "NoSuchWebKitFeature", false).unwrap());
        assert_eq!(enabled(ptr, "NoSuchWebKitFeature"), None);
    }
}
