//! The last check: the shop's product page through the ingress gateway, as a browser sees it.

use std::time::{Duration, Instant};

use super::{Error, StepCtx};

/// What the product page must contain.
pub const TITLE: &str = "Simple Bookstore App";

/// Asks `url` until its page contains the shop's title or `timeout` passes. The gateway
/// takes a few seconds to learn the route after Bookinfo is applied, so early 404s are
/// expected.
#[tracing::instrument(skip(ctx))]
pub async fn product_page(
    ctx: &StepCtx,
    url: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<String, Error> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let attempt = match http.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                match resp.text().await {
                    Ok(body) if status.is_success() && body.contains(TITLE) => {
                        return Ok(format!(
                            "{url} answered {status} with \"{TITLE}\" after {} ms",
                            started.elapsed().as_millis()
                        ));
                    }
                    Ok(_) if status.is_success() => {
                        format!("answered {status} but the page lacks \"{TITLE}\"")
                    }
                    Ok(_) => format!("answered {status}"),
                    Err(e) => format!("answered {status} but the body broke off: {e}"),
                }
            }
            Err(e) if e.is_connect() => "refused the connection".to_string(),
            Err(e) if e.is_timeout() => "did not answer within 10 s".to_string(),
            Err(e) => e.to_string(),
        };
        if attempt != last {
            ctx.log(format!("{url} {attempt}; trying again"));
            last = attempt;
        }
        if started.elapsed() >= timeout {
            return Err(Error::Verify {
                url: url.to_string(),
                reason: last,
            });
        }
        ctx.progress(
            (100.0 * started.elapsed().as_secs_f32() / timeout.as_secs_f32()).min(99.0),
            None,
        );
        ctx.check_cancel()?;
        tokio::time::sleep(poll).await;
    }
}
