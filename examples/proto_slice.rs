use cedar_policy::{Entities, Entity};
use std::time::Instant;
use teamgate::{testkit, Bundle};

fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let snap = Bundle::new(env!("CARGO_MANIFEST_DIR")).load().unwrap();
    let (json, _ids) = testkit::workspace(100_000, 42);
    let text = serde_json::to_string(&json).unwrap();
    drop(json);
    println!("json text {} MB; {}", text.len() / 1_000_000, rss());
    let t = Instant::now();
    let v: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    println!("parse json: {:.2} s; {}", t.elapsed().as_secs_f64(), rss());
    let t = Instant::now();
    let mut ents = Vec::with_capacity(v.len());
    for e in &v {
        ents.push(Entity::from_json_value(e.clone(), Some(snap.schema())).unwrap());
    }
    println!(
        "per-entity cedar parse w/ schema: {:.2} s ({:.1} us each); {}",
        t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() * 1e6 / v.len() as f64,
        rss()
    );
    drop(v);
    println!("after dropping json values: {}", rss());
    let t = Instant::now();
    let all = Entities::from_entities(ents, None).unwrap();
    println!(
        "from_entities(None) w/ TC: {:.2} s; {}",
        t.elapsed().as_secs_f64(),
        rss()
    );
    drop(all);
    println!("dropped: {}", rss());
}
