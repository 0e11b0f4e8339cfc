//! Prometheus metrics kept in process and rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::store::PoolStats;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Every label takes its value from a fixed set (00-conventions §10.2), so no request can add a
/// series: a route is a template of the router (or `unmatched`), a method one of five names, a
/// status its class.
#[derive(Default)]
struct Inner {
    /// Route → method → status class → count; keyed by level so a request allocates nothing once
    /// its route has been seen.
    requests: BTreeMap<String, BTreeMap<&'static str, BTreeMap<&'static str, u64>>>,
    latency: BTreeMap<String, Histogram>,
    logins: BTreeMap<&'static str, u64>,
    rate_limited: BTreeMap<&'static str, u64>,
    connections_refused: BTreeMap<&'static str, u64>,
    egress_refused: BTreeMap<&'static str, u64>,
    browser_starts: BTreeMap<&'static str, u64>,
    browser_stops: BTreeMap<&'static str, u64>,
    browser_frames: u64,
    browser_frames_dropped: u64,
    /// This node's machines: their state and viewers, rendered as totals (no machine label).
    browser_machines: BTreeMap<i64, (&'static str, i64)>,
}

/// The method label: the API's methods by name, anything else `other` (also in the log line,
/// where a client's made-up method would otherwise be written out whole).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// `route` is the matched template, or `None` for a request that matched no route.
    pub fn request(&self, method: &str, route: Option<&str>, status: u16, seconds: f64) {
        let route = route.unwrap_or("unmatched");
        self.with(|m| {
            if let Some(methods) = slot(&mut m.requests, route) {
                *methods
                    .entry(method_label(method))
                    .or_default()
                    .entry(status_class(status))
                    .or_default() += 1;
            }
            if let Some(h) = slot(&mut m.latency, route) {
                for (i, bound) in BUCKETS.iter().enumerate() {
                    if seconds <= *bound {
                        h.counts[i] += 1;
                    }
                }
                h.count += 1;
                h.sum += seconds;
            }
        });
    }

    /// `outcome`: `login`, `signup` or `invalid_code`.
    pub fn login(&self, outcome: &'static str) {
        self.with(|m| *m.logins.entry(outcome).or_default() += 1);
    }

    pub fn rate_limited(&self, tier: &'static str) {
        self.with(|m| *m.rate_limited.entry(tier).or_default() += 1);
    }

    /// `reason`: `node_limit` or `address_limit` (00-conventions §10.1).
    pub fn connection_refused(&self, reason: &'static str) {
        self.with(|m| *m.connections_refused.entry(reason).or_default() += 1);
    }

    /// `reason`: `scheme`, `host`, `port` or `address` (92-browser-rooms §3.4).
    pub fn egress_refused(&self, reason: &'static str) {
        self.with(|m| *m.egress_refused.entry(reason).or_default() += 1);
    }

    /// `result`: `ok`, `failed`, `capacity`, `user_limit`, `disabled`, `unsupported` (92 §5.5).
    pub fn browser_start(&self, result: &'static str) {
        self.with(|m| *m.browser_starts.entry(result).or_default() += 1);
    }

    pub fn browser_stopped(&self, reason: &'static str) {
        self.with(|m| *m.browser_stops.entry(reason).or_default() += 1);
    }

    pub fn browser_frame(&self) {
        self.with(|m| m.browser_frames += 1);
    }

    /// Frames replaced while waiting for a slow viewer (92 §7.4).
    pub fn browser_frames_dropped(&self, n: u64) {
        self.with(|m| m.browser_frames_dropped += n);
    }

    /// A machine of this node in `state`, with `viewers`; `None` once it is stopped.
    pub fn browser_machine(&self, machine_id: i64, state: Option<(&'static str, i64)>) {
        self.with(|m| match state {
            Some(state) => {
                m.browser_machines.insert(machine_id, state);
            }
            None => {
                m.browser_machines.remove(&machine_id);
            }
        });
    }

    pub fn render(&self, pool: &PoolStats) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP portal_http_requests_total Requests answered, by method, route and status class.\n");
            out.push_str("# TYPE portal_http_requests_total counter\n");
            for (route, methods) in &m.requests {
                for (method, statuses) in methods {
                    for (status, n) in statuses {
                        let _ = writeln!(out, "portal_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}", escape(route));
                    }
                }
            }
            out.push_str("# HELP portal_http_request_duration_seconds Time to answer, by route.\n");
            out.push_str("# TYPE portal_http_request_duration_seconds histogram\n");
            for (route, h) in &m.latency {
                let route = escape(route);
                for (bound, n) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "portal_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(out, "portal_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "portal_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "portal_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
            out.push_str("# HELP portal_logins_total Verify outcomes.\n# TYPE portal_logins_total counter\n");
            for (outcome, n) in &m.logins {
                let _ = writeln!(out, "portal_logins_total{{outcome=\"{outcome}\"}} {n}");
            }
            out.push_str("# HELP portal_rate_limited_total Requests refused by a rate tier.\n# TYPE portal_rate_limited_total counter\n");
            for (tier, n) in &m.rate_limited {
                let _ = writeln!(out, "portal_rate_limited_total{{tier=\"{tier}\"}} {n}");
            }
            out.push_str("# HELP portal_connections_refused_total Connections closed at accept for a cap.\n# TYPE portal_connections_refused_total counter\n");
            for (reason, n) in &m.connections_refused {
                let _ = writeln!(out, "portal_connections_refused_total{{reason=\"{reason}\"}} {n}");
            }
            out.push_str("# HELP portal_browser_egress_refused_total Requests of browser machines the egress filter refused.\n# TYPE portal_browser_egress_refused_total counter\n");
            for (reason, n) in &m.egress_refused {
                let _ = writeln!(out, "portal_browser_egress_refused_total{{reason=\"{reason}\"}} {n}");
            }
            out.push_str("# HELP portal_browser_machines This node's browser machines by state.\n# TYPE portal_browser_machines gauge\n");
            for state in ["starting", "running", "stopping"] {
                let n = m.browser_machines.values().filter(|(s, _)| *s == state).count();
                let _ = writeln!(out, "portal_browser_machines{{state=\"{state}\"}} {n}");
            }
            out.push_str("# HELP portal_browser_starts_total Machine starts by result.\n# TYPE portal_browser_starts_total counter\n");
            for (result, n) in &m.browser_starts {
                let _ = writeln!(out, "portal_browser_starts_total{{result=\"{result}\"}} {n}");
            }
            out.push_str("# HELP portal_browser_stops_total Machine stops by reason.\n# TYPE portal_browser_stops_total counter\n");
            for (reason, n) in &m.browser_stops {
                let _ = writeln!(out, "portal_browser_stops_total{{reason=\"{reason}\"}} {n}");
            }
            let viewers: i64 = m.browser_machines.values().map(|(_, v)| v).sum();
            let _ = writeln!(out, "# HELP portal_browser_viewers Viewers of this node's machines.\n# TYPE portal_browser_viewers gauge\nportal_browser_viewers {viewers}");
            let _ = writeln!(out, "# HELP portal_browser_frames_total Frames accepted from machines.\n# TYPE portal_browser_frames_total counter\nportal_browser_frames_total {}", m.browser_frames);
            let _ = writeln!(out, "# HELP portal_browser_frames_dropped_total Frames replaced before a slow viewer took them.\n# TYPE portal_browser_frames_dropped_total counter\nportal_browser_frames_dropped_total {}", m.browser_frames_dropped);
        });
        out.push_str("# HELP portal_db_pool_connections Database pool connections by state.\n# TYPE portal_db_pool_connections gauge\n");
        let _ = writeln!(out, "portal_db_pool_connections{{state=\"idle\"}} {}", pool.checked_in);
        let _ = writeln!(
            out,
            "portal_db_pool_connections{{state=\"in_use\"}} {}",
            pool.checked_out
        );
        let _ = writeln!(out, "portal_db_pool_connections{{state=\"max\"}} {}", pool.size);
        out
    }
}

/// The value under `key`, made (with the key's only allocation) the first time.
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key)
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}
