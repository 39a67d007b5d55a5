//! The client's overhead per call: `get_question` through `HttpSoe` next to a bare reqwest GET
//! of the same URL, both against the fake site on loopback (target: at most 1.10×).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;
use soe_bot::clock::SystemClock;
use soe_bot::fake_soe::{FakeSoe, FakeSoeConfig, Q_ASYNC};
use soe_bot::soe::{HttpSoe, ServiceToken, SoeClientConfig, SoeRead};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (fake, soe, token) = rt.block_on(async {
        let mut cfg = FakeSoeConfig::new(Arc::new(SystemClock));
        // No throttling in the way of a benchmark.
        cfg.throttle.burst_calls = u32::MAX / 2;
        cfg.throttle.bucket_max = u32::MAX / 2;
        let fake = FakeSoe::start(cfg).await.unwrap();
        let soe = HttpSoe::new(SoeClientConfig::new(fake.site_url())).unwrap();
        let token = fake.service_token();
        (fake, soe, token)
    });
    let reader = soe.reader(&ServiceToken::new(SecretString::from(token.clone())), None);
    let url = format!(
        "{}/questions/{}",
        fake.api_base().as_str().trim_end_matches('/'),
        Q_ASYNC
    );
    let bare = reqwest::Client::builder().build().unwrap();

    let mut g = c.benchmark_group("get_question");
    g.bench_function("bare_reqwest_get", |b| {
        b.to_async(&rt).iter(|| async {
            let r = bare
                .get(&url)
                .bearer_auth(&token)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            let bytes = r.bytes().await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(v.get("id").is_some());
        })
    });
    g.bench_function("soe_client", |b| {
        b.to_async(&rt).iter(|| async {
            let q = reader.get_question(Q_ASYNC).await.unwrap();
            assert_eq!(q.id, Q_ASYNC);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
