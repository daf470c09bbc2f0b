//! The exposition of squall's metrics (each test runs on its own thread, so with its own
//! registry).

use std::time::Duration;

use http::{Method, StatusCode};

use super::{encode, with_registry};
use crate::reactor::real_coarse;
use crate::telemetry::hooks::{self, method_index, NOT_COUNTED};
use crate::Reactor;

/// The value of the sample line starting with `series ` in `text`, if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[test]
fn requests_are_counted_by_method_and_status() {
    let get = method_index(&Method::GET, true);
    let post = method_index(&Method::POST, true);
    for _ in 0..3 {
        hooks::http_request(get, StatusCode::OK, real_coarse());
    }
    hooks::http_request(post, StatusCode::NOT_FOUND, real_coarse());
    let text = encode(None);
    assert_eq!(
        sample(
            &text,
            r#"squall_http_requests_total{method="GET",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"squall_http_requests_total{method="POST",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"squall_http_request_duration_seconds_count{method="GET",status="200"}"#
        ),
        Some(3.0)
    );
    assert!(text.contains("# TYPE squall_http_request_duration_seconds histogram"));
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
}

#[test]
fn unknown_methods_share_one_label_and_uncounted_servers_count_nothing() {
    let odd = Method::from_bytes(b"BREW").unwrap();
    let other = Method::from_bytes(b"PROPFIND").unwrap();
    hooks::http_request(method_index(&odd, true), StatusCode::OK, real_coarse());
    hooks::http_request(method_index(&other, true), StatusCode::OK, real_coarse());
    hooks::http_request(
        method_index(&Method::GET, false),
        StatusCode::OK,
        real_coarse(),
    );
    hooks::http_bytes_out(NOT_COUNTED, 100);
    hooks::http_bytes_out(method_index(&Method::GET, true), 7);
    let text = encode(None);
    assert_eq!(
        sample(
            &text,
            r#"squall_http_requests_total{method="OTHER",status="200"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"squall_http_requests_total{method="GET",status="200"}"#
        ),
        None
    );
    assert_eq!(sample(&text, "squall_http_sent_bytes_total"), Some(7.0));
}

#[test]
fn durations_fall_in_their_buckets() {
    let get = method_index(&Method::GET, true);
    // Started 300 ms ago: above the 0.25 s bound, within 0.5 s.
    let started = real_coarse().saturating_sub(Duration::from_millis(300));
    hooks::http_request(get, StatusCode::OK, started);
    let text = encode(None);
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(
                r#"squall_http_request_duration_seconds_bucket{{le="{le}",method="GET",status="200"}}"#
            ),
        )
    };
    assert_eq!(bucket("0.25"), Some(0.0), "{text}");
    assert_eq!(bucket("0.5"), Some(1.0));
    assert_eq!(bucket("+Inf"), Some(1.0));
}

#[test]
fn tls_failures_are_labelled_by_cause() {
    hooks::tls_handshake(None);
    hooks::tls_handshake(Some(&crate::Error::Timeout));
    hooks::tls_handshake(Some(&crate::Error::Timeout));
    hooks::tls_handshake(Some(&crate::Error::StreamClosed));
    let text = encode(None);
    assert_eq!(sample(&text, "squall_tls_handshakes_total"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"squall_tls_handshake_failures_total{cause="timeout"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"squall_tls_handshake_failures_total{cause="closed"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn reactor_counters_come_from_stats() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let h = handle.clone();
    handle.call_later(Duration::from_secs(3600), || {});
    handle.add_callback(move || h.stop());
    reactor.run().unwrap();
    let stats = handle.stats();
    let text = encode(Some(&handle));
    assert_eq!(
        sample(&text, "squall_loop_iterations_total"),
        Some(stats.iterations as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, "squall_callbacks_total"),
        Some(stats.callbacks_run as f64)
    );
    assert_eq!(sample(&text, "squall_timers_pending"), Some(1.0));
    assert_eq!(sample(&text, "squall_slow_callbacks_total"), Some(0.0));
    assert!(sample(&text, "squall_loop_lag_seconds").is_some());
}

#[test]
fn slow_callbacks_are_counted() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let h = handle.clone();
    // Busy for well over the default 100 ms threshold, measured by the coarse clock.
    handle.add_callback(|| {
        let start = real_coarse();
        while real_coarse() < start + Duration::from_millis(150) {
            std::hint::spin_loop();
        }
    });
    handle.add_callback(move || h.stop());
    reactor.run().unwrap();
    let stats = handle.stats();
    assert_eq!(stats.slow_callbacks, 1);
    assert!(stats.busy >= Duration::from_millis(150), "{:?}", stats.busy);
    assert!(
        stats.loop_lag >= Duration::from_millis(150),
        "{:?}",
        stats.loop_lag
    );
    let text = encode(Some(&handle));
    assert_eq!(sample(&text, "squall_slow_callbacks_total"), Some(1.0));
}

#[test]
fn the_application_adds_its_own_metrics() {
    use prometheus_client::metrics::gauge::Gauge;
    let queue: Gauge = Gauge::default();
    with_registry(|r| r.register("shop_queue_depth", "Orders waiting", queue.clone()));
    queue.set(42);
    let text = encode(None);
    assert_eq!(sample(&text, "shop_queue_depth"), Some(42.0), "{text}");
    assert!(text.contains("# HELP shop_queue_depth Orders waiting"));
}
