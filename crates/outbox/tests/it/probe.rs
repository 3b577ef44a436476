//! Timing probe (ignored): cost of recording status changes with fan-out.

use std::time::Instant;

use crate::support::Bench;

#[tokio::test]
#[ignore]
async fn probe_record_status_cost() {
    for partners in [0usize, 10] {
        let names: Vec<String> = (0..partners).map(|i| format!("P{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let bench = Bench::new(&refs, 50).await;
        for p in &refs {
            bench.webhook(p, "http://127.0.0.1:9/h").await;
        }
        let t = Instant::now();
        let n = 2000;
        for i in 0..n {
            bench.status(i % 50, i / 50).await;
        }
        let e = t.elapsed();
        eprintln!("{partners} partners: {:.1} µs per status change", e.as_micros() as f64 / n as f64);
    }
}
