//! Prometheus metrics: the series, how they are recorded and their text exposition. A neutral
//! module: the core records provider calls, rate-limit refusals, allowance, spend and
//! usage-writer lag through [`Metrics`]; the HTTP edge records requests (`http/metrics.rs`)
//! and serves the scrape. No face is imported here, and nothing here reaches the store or the
//! providers.
//!
//! One registry per app (no global: every test app in a process counts its own), built only
//! when `/metrics` is configured; otherwise [`Metrics`] is `None` inside and every recording
//! call returns at its first branch. Recording allocates nothing (the edge layer boxes one
//! future): each route's series are resolved once, on its first request, and reached after
//! that by one lookup of the route template (see [`RouteSeries`]); each organization's spend
//! series likewise, on its first priced completion, by one lookup of its id.

pub mod labels;
pub mod wait;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

use labels::{
    BucketLabels, ProviderCallLabels, ProviderLabels, ProviderOnly, RequestLabels, RouteLabels, SpendLabels,
    StatusLabels,
};
pub use labels::{Face, LimitBucket, ProviderCall, UNMATCHED};

/// Upper bounds of the request-duration and added-overhead buckets, in seconds: from 25 µs
/// (the gateway's own work is tens of microseconds) to two minutes.
const REQUEST_BUCKETS: [f64; 21] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Upper bounds of the provider-latency buckets, in seconds: a mock on loopback to a long
/// generation.
const PROVIDER_BUCKETS: [f64; 18] =
    [0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

fn provider_histogram() -> Histogram {
    Histogram::new(PROVIDER_BUCKETS)
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The request series: the counter by status and the two histograms by route.
fn request_series(
    r: &mut Registry,
) -> (Family<RequestLabels, Counter>, Histograms<RouteLabels>, Histograms<RouteLabels>) {
    let requests = registered(
        r,
        "http_requests",
        "HTTP requests answered, by face, route template and status",
        None,
        Family::default(),
    );
    let duration = registered(
        r,
        "http_request_duration",
        "Time to answer a request (until the response head), by face and route template",
        Some(Unit::Seconds),
        Family::new_with_constructor(request_histogram as fn() -> Histogram),
    );
    let overhead = registered(
        r,
        "http_request_overhead",
        "Time Converra added to a request: its duration minus the time spent waiting on providers",
        Some(Unit::Seconds),
        Family::new_with_constructor(request_histogram as fn() -> Histogram),
    );
    (requests, duration, overhead)
}

/// Registers `metric` under `name` (with its unit, if any) and returns the handle to record on.
fn registered<M: Metric + Clone>(r: &mut Registry, name: &str, help: &str, unit: Option<Unit>, metric: M) -> M {
    match unit {
        Some(unit) => r.register_with_unit(name, help, unit, metric.clone()),
        None => r.register(name, help, metric.clone()),
    }
    metric
}

/// The metrics of one app; cheap to clone. `Metrics::default()` records nothing.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<RouteLabels>,
    overhead: Histograms<RouteLabels>,
    provider_calls: Family<ProviderLabels, Counter>,
    provider_duration: Histograms<ProviderCallLabels>,
    rate_limited: Family<BucketLabels, Counter>,
    allowance: Family<ProviderOnly, Counter>,
    spend: Family<SpendLabels, Counter>,
    /// `spend`'s counters by organization, then provider (at most four), each resolved on the
    /// organization's first priced completion: recording a cost copies no id after that.
    spend_series: RwLock<HashMap<String, Vec<(&'static str, Counter)>>>,
    unpriced: Family<ProviderOnly, Counter>,
    usage_pending: Gauge,
    usage_age: Gauge<f64, AtomicU64>,
    key_health: Family<StatusLabels, Gauge>,
    /// Each matched route's series, by template; bounded by the router's routes.
    routes: RwLock<HashMap<&'static str, Arc<RouteSeries>>>,
    /// The series of unmatched requests, one per face (by path prefix).
    unmatched: Vec<Arc<RouteSeries>>,
}

impl Metrics {
    /// Metrics that record and can be scraped.
    pub fn enabled() -> Self {
        let mut r = Registry::with_prefix("converra");
        let (requests, duration, overhead) = request_series(&mut r);
        let unmatched = Face::ALL
            .iter()
            .map(|face| Arc::new(RouteSeries::new(face.as_str(), UNMATCHED, &requests, &duration, &overhead)))
            .collect();
        let inner = Inner {
            provider_calls: registered(
                &mut r,
                "provider_calls",
                "Calls to AI providers, by provider, call (completion, stream, test) and outcome",
                None,
                Family::default(),
            ),
            provider_duration: registered(
                &mut r,
                "provider_call_duration",
                "Provider latency: a whole answer, a stream's head, or a key test",
                Some(Unit::Seconds),
                Family::new_with_constructor(provider_histogram as fn() -> Histogram),
            ),
            rate_limited: registered(
                &mut r,
                "rate_limited",
                "Requests refused by a rate limit, by bucket",
                None,
                Family::default(),
            ),
            allowance: registered(
                &mut r,
                "allowance_used_tokens",
                "Platform-allowance tokens counted (input and output), by provider, all organizations together",
                None,
                Family::default(),
            ),
            spend: registered(
                &mut r,
                "spend_micro_usd",
                "Completions' cost by the price table, in micro-USD, by organization and provider",
                None,
                Family::default(),
            ),
            spend_series: RwLock::default(),
            unpriced: registered(
                &mut r,
                "unpriced_completions",
                "Completions whose model the price table has no price for (not in the spend), by provider",
                None,
                Family::default(),
            ),
            usage_pending: registered(
                &mut r,
                "usage_pending_buckets",
                "Usage roll-ups counted in memory and not yet written to the store",
                None,
                Gauge::default(),
            ),
            usage_age: registered(
                &mut r,
                "usage_pending_age",
                "Age of the oldest usage not yet written to the store (0 when none is waiting)",
                Some(Unit::Seconds),
                Gauge::default(),
            ),
            key_health: registered(
                &mut r,
                "provider_keys",
                "Stored provider keys by health status",
                None,
                Family::default(),
            ),
            requests,
            duration,
            overhead,
            routes: RwLock::default(),
            unmatched,
            registry: r,
        };
        Self(Some(Arc::new(inner)))
    }

    /// Whether anything is recorded (`/metrics` is configured).
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The series of a request: its matched route template, or `unmatched` with the face of
    /// its path. `None` when metrics are off.
    pub fn route(&self, matched: Option<&str>, path: &str) -> Option<Arc<RouteSeries>> {
        let inner = self.0.as_ref()?;
        let Some(template) = matched else {
            return Some(inner.unmatched[Face::of(path).index()].clone());
        };
        if let Some(series) = inner.routes.read().unwrap_or_else(PoisonError::into_inner).get(template) {
            return Some(series.clone());
        }
        let mut routes = inner.routes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = routes.get(template) {
            return Some(series.clone());
        }
        // Templates are the router's own, a fixed set: each is copied, for good, once.
        let route: &'static str = Box::leak(template.to_owned().into_boxed_str());
        let face = Face::of(route).as_str();
        let series = Arc::new(RouteSeries::new(face, route, &inner.requests, &inner.duration, &inner.overhead));
        routes.insert(route, series.clone());
        Some(series)
    }

    /// A provider call ended: counts it with its outcome and latency, and adds the latency to
    /// the current request's provider wait.
    pub fn provider_call(&self, provider: &'static str, call: ProviderCall, outcome: &'static str, took: Duration) {
        let Some(inner) = &self.0 else { return };
        wait::provider_waited(took);
        inner.provider_calls.get_or_create(&ProviderLabels { provider, call: call.as_str(), outcome }).inc();
        inner
            .provider_duration
            .get_or_create(&ProviderCallLabels { provider, call: call.as_str() })
            .observe(took.as_secs_f64());
    }

    /// A rate limit refused a request.
    pub fn rate_limited(&self, bucket: LimitBucket) {
        if let Some(inner) = &self.0 {
            inner.rate_limited.get_or_create(&BucketLabels { bucket: bucket.as_str() }).inc();
        }
    }

    /// Platform-allowance tokens were counted for a call on `provider`.
    pub fn allowance_used(&self, provider: &'static str, tokens: u64) {
        if let Some(inner) = &self.0 {
            inner.allowance.get_or_create(&ProviderOnly { provider }).inc_by(tokens);
        }
    }

    /// A completion on `provider` for `organization` was costed by the price table: its cost
    /// (micro-USD) is added to the organization's spend, or, `None` (no price), it is counted as
    /// unpriced. A cost of 0 (a call the provider refused) records nothing, not even a series.
    pub fn spent(&self, organization: &str, provider: &'static str, cost: Option<u64>) {
        let Some(inner) = &self.0 else { return };
        let micro_usd = match cost {
            Some(0) => return,
            Some(micro_usd) => micro_usd,
            None => {
                inner.unpriced.get_or_create(&ProviderOnly { provider }).inc();
                return;
            }
        };
        let series = inner.spend_series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(counter) = series.get(organization).and_then(|of_org| counter_of(of_org, provider)) {
            counter.inc_by(micro_usd);
            return;
        }
        drop(series);
        let mut series = inner.spend_series.write().unwrap_or_else(PoisonError::into_inner);
        let of_org = series.entry(organization.to_owned()).or_default();
        let counter = match counter_of(of_org, provider) {
            Some(counter) => counter.clone(),
            None => {
                let counter =
                    inner.spend.get_or_create_owned(&SpendLabels { organization: organization.to_owned(), provider });
                of_org.push((provider, counter.clone()));
                counter
            }
        };
        counter.inc_by(micro_usd);
    }

    /// The usage writer's backlog, set before each scrape.
    pub fn set_usage_lag(&self, pending_buckets: usize, oldest: Duration) {
        if let Some(inner) = &self.0 {
            inner.usage_pending.set(i64::try_from(pending_buckets).unwrap_or(i64::MAX));
            inner.usage_age.set(oldest.as_secs_f64());
        }
    }

    /// How many stored provider keys have health `status`, set before each scrape.
    pub fn set_key_health(&self, status: &'static str, count: u64) {
        if let Some(inner) = &self.0 {
            inner.key_health.get_or_create(&StatusLabels { status }).set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text exposition (which Prometheus reads), or `None` when off.
    pub fn encode(&self) -> Option<String> {
        let inner = self.0.as_ref()?;
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &inner.registry).ok()?;
        Some(text)
    }
}

/// The counter of `provider` among one organization's spend series.
fn counter_of<'a>(series: &'a [(&'static str, Counter)], provider: &str) -> Option<&'a Counter> {
    series.iter().find(|(p, _)| *p == provider).map(|(_, counter)| counter)
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One route's series, resolved once: its two histograms and a counter per status it has
/// answered with (a handful).
pub struct RouteSeries {
    face: &'static str,
    route: &'static str,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    overhead: Histogram,
    statuses: RwLock<Vec<(u16, Counter)>>,
}

impl RouteSeries {
    fn new(
        face: &'static str,
        route: &'static str,
        requests: &Family<RequestLabels, Counter>,
        duration: &Histograms<RouteLabels>,
        overhead: &Histograms<RouteLabels>,
    ) -> Self {
        let labels = RouteLabels { face, route };
        Self {
            face,
            route,
            requests: requests.clone(),
            duration: duration.get_or_create_owned(&labels),
            overhead: overhead.get_or_create_owned(&labels),
            statuses: RwLock::default(),
        }
    }

    /// Whether this route belongs to the MCP face (answered on a task of its own).
    pub fn is_mcp(&self) -> bool {
        self.face == Face::Mcp.as_str()
    }

    /// Counts one answered request.
    pub fn record(&self, status: u16, took: Duration, provider_wait: Duration) {
        self.duration.observe(took.as_secs_f64());
        self.overhead.observe(took.saturating_sub(provider_wait).as_secs_f64());
        let counted = {
            let statuses = self.statuses.read().unwrap_or_else(PoisonError::into_inner);
            statuses.iter().find(|(s, _)| *s == status).map(|(_, c)| c.inc()).is_some()
        };
        if !counted {
            let mut statuses = self.statuses.write().unwrap_or_else(PoisonError::into_inner);
            let counter = match statuses.iter().find(|(s, _)| *s == status) {
                Some((_, c)) => c.clone(),
                None => {
                    let c = self.requests.get_or_create_owned(&RequestLabels {
                        face: self.face,
                        route: self.route,
                        status,
                    });
                    statuses.push((status, c.clone()));
                    c
                }
            };
            counter.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_records_nothing_and_serves_nothing() {
        let off = Metrics::default();
        assert!(off.route(Some("/api/v1/me"), "/api/v1/me").is_none());
        off.rate_limited(LimitBucket::Plan);
        off.spent("org_a", "openai", Some(5));
        assert!(off.encode().is_none());
    }

    #[test]
    fn spend_is_counted_by_organization_and_provider_and_unpriced_completions_by_provider() {
        let m = Metrics::enabled();
        m.spent("org_a", "openai", Some(5));
        m.spent("org_a", "openai", Some(7));
        m.spent("org_a", "anthropic", Some(111));
        m.spent("org_b", "openai", Some(5));
        m.spent("org_b", "gemini", Some(0));
        m.spent("org_a", "deepseek", None);
        m.spent("org_b", "deepseek", None);
        let text = m.encode().unwrap();
        for series in [
            r#"converra_spend_micro_usd_total{organization="org_a",provider="openai"} 12"#,
            r#"converra_spend_micro_usd_total{organization="org_a",provider="anthropic"} 111"#,
            r#"converra_spend_micro_usd_total{organization="org_b",provider="openai"} 5"#,
            r#"converra_unpriced_completions_total{provider="deepseek"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == series), "{series}:\n{text}");
        }
        let lines = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
        assert_eq!(lines("converra_spend_micro_usd_total{"), 3, "a refused call (cost 0) adds no series:\n{text}");
        assert_eq!(lines("converra_unpriced_completions_total{"), 1, "{text}");
        assert!(text.contains("# TYPE converra_spend_micro_usd counter"), "{text}");
    }

    #[test]
    fn a_route_is_resolved_once_and_unknown_paths_share_one_series() {
        let m = Metrics::enabled();
        let a = m.route(Some("/api/v1/projects/{id}"), "/api/v1/projects/prj_1").unwrap();
        let b = m.route(Some("/api/v1/projects/{id}"), "/api/v1/projects/prj_2").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        a.record(200, Duration::from_millis(3), Duration::from_millis(1));
        b.record(404, Duration::from_millis(1), Duration::ZERO);
        for i in 0..100 {
            m.route(None, &format!("/nope/{i}")).unwrap().record(404, Duration::from_micros(10), Duration::ZERO);
        }
        let text = m.encode().unwrap();
        assert!(
            text.contains(r#"converra_http_requests_total{face="rest",route="/api/v1/projects/{id}",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"converra_http_requests_total{face="web",route="unmatched",status="404"} 100"#),
            "{text}"
        );
        assert!(!text.contains("prj_1") && !text.contains("/nope/"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
