//! WebKitGTK settings the window needs that neither Tauri nor the `webkit2gtk` crate exposes.

use std::ffi::{CStr, c_char, c_int, c_void};

use webkit2gtk::WebViewExt;
use webkit2gtk::glib::object::ObjectType;

/// WebKit's name for scrolling `overflow: auto` boxes in a compositing layer of their own.
const ASYNC_OVERFLOW_SCROLLING: &str = "AsyncOverflowScrolling";

/// WebKit's name for drawing 2D canvases with OpenGL.
const CANVAS_ACCELERATED_DRAWING: &str = "CanvasUsesAcceleratedDrawing";

/// The WebKit feature flags the window turns off, each with what it saves.
///
/// - `AsyncOverflowScrolling`: the page's `overflow: auto` areas (the screen under the
///   header, the log, the details panel) scroll by repainting instead of each keeping a
///   compositing layer of its own. With that layer, WebKitGTK paints a scrolling area's whole
///   content ahead of time, twice over when it paints with the CPU (its buffer and the
///   compositor's texture): the Setup screen's list of checks held about 19 MB of the web
///   process, a third of its anonymous memory. These areas hold text and boxes, which
///   repaint fast enough while scrolling.
/// - `CanvasUsesAcceleratedDrawing`: 2D canvases are drawn with the CPU, like the rest of
///   the page (`WEBKIT_SKIA_ENABLE_CPU_RENDERING`, set in `lib.rs`). Left on, WebKit still
///   draws each canvas with OpenGL, which on a machine without a GPU is Mesa's software
///   renderer: the Mesh screen's four canvases (the graph's three layers and the traffic
///   layer over them) held about 28 MB of the web process in its textures and buffers. The
///   graph is a few dozen shapes: drawn by the CPU, a 500-node graph pans twice as fast here
///   (README, "Graph drawing in the app's webview"). Not measured on a machine with a GPU
///   (none here), where the canvas is then uploaded to it as it changes.
///
/// Both are WebKitGTK feature flags (2.42 and later), which the `webkit2gtk` crate does not
/// bind, so the functions are looked up in the running process: with an older WebKitGTK
/// they are missing and nothing changes. Figures: README, "Start-up and memory of the
/// release app".
const FEATURES_OFF: [&str; 2] = [ASYNC_OVERFLOW_SCROLLING, CANVAS_ACCELERATED_DRAWING];

/// Turns off [`FEATURES_OFF`] in the window's web view.
pub fn turn_off_costly_features(view: &webkit2gtk::WebView) {
    let _span = tracing::info_span!("webkit_features").entered();
    let Some(settings) = view.settings() else {
        tracing::warn!("the web view has no settings; WebKit's features are left as they are");
        return;
    };
    for feature in FEATURES_OFF {
        match set_feature(settings.as_ptr().cast(), feature, false) {
            Ok(true) => tracing::info!(feature, "turned off"),
            Ok(false) => {
                tracing::info!(feature, "this WebKitGTK has no such feature; left as it is")
            }
            Err(e) => {
                tracing::info!(error = %e, "WebKitGTK has no feature flags (older than 2.42); left as they are");
                return;
            }
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
    fn turns_off_overflow_scrolling_layers_and_canvas_acceleration_and_says_when_a_feature_is_unknown()
     {
        // A web view reads GTK's settings (fonts), which needs a display.
        gtk::init().expect("GTK needs a display: run this test under xvfb-run");
        let view = webkit2gtk::WebView::new();
        let settings = view.settings().expect("a web view has settings");
        let ptr: *mut c_void = settings.as_ptr().cast();
        let features = ["AsyncOverflowScrolling", "CanvasUsesAcceleratedDrawing"];
        // Both on by default in the WebKitGTK this app is built against (2.42 and later).
        for feature in features {
            assert_eq!(enabled(ptr, feature), Some(true), "{feature}");
        }
        turn_off_costly_features(&view);
        for feature in features {
            assert_eq!(enabled(ptr, feature), Some(false), "{feature}");
        }

        // One feature both ways (GTK runs on one thread, so this is one test).
        assert!(set_feature(ptr, CANVAS_ACCELERATED_DRAWING, false).unwrap());
        assert_eq!(enabled(ptr, CANVAS_ACCELERATED_DRAWING), Some(false));
        assert!(set_feature(ptr, CANVAS_ACCELERATED_DRAWING, true).unwrap());
        assert_eq!(enabled(ptr, CANVAS_ACCELERATED_DRAWING), Some(true));
        // A name WebKit does not have changes nothing and says so.
        assert!(!set_feature(ptr, "NoSuchWebKitFeature", false).unwrap());
        assert_eq!(enabled(ptr, "NoSuchWebKitFeature"), None);
        // Released with the process: dropping a web view on this thread, outside a GTK main
        // loop, made the test process abort as it exited (SIGABRT after the tests passed).
        std::mem::forget(settings);
        std::mem::forget(view);
    }
}
