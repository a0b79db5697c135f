//! The hot path, through the service layer on a real SQLite file:
//! verifying a cached key (without and with a rate limit), an uncached key
//! (a database read each time) and a malformed key; generating a key;
//! checking a key's form and checksum.
//!
//! `cargo bench --features ssr --bench verify`

use criterion::{criterion_group, criterion_main, Criterion};
use keysmith::{
    auth::{
        hashing::PasswordHasher,
        identity::{Actor, ClientInfo},
        manager::Manager,
        service::create_owner,
    },
    keys::{
        cache::CredentialCache,
        catalogue::{Catalogue, Catalogues, Requirement},
        credits::{Credits, MAX_CREDITS},
        limiter::{LimitBuckets, RateLimiter},
        limits::RateLimit,
        model::KeyDraft,
        secret::KeyFormat,
        usage::UsageTracker,
        verifier::{Charge, KeyVerifier},
        wallet::Wallets,
        Keys,
    },
    storage::Db,
};
use std::{hint::black_box, net::IpAddr, sync::Arc, time::Duration};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: KeyVerifier,
    cache: CredentialCache,
    required: Requirement,
    secret: String,
    /// A key with one rate limit, too large to be reached.
    limited: String,
    /// The same with credits too, too many to run out.
    metered: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let cache = CredentialCache::new(Duration::from_secs(60), 100_000);
    let catalogue = Arc::new(Catalogue::standard());
    let required = catalogue.requirement(&["read"], "required_scope").unwrap();
    let (verifier, secret, limited, metered) = runtime.block_on(async {
        let db = Db::connect(&url).await.unwrap();
        let client = ClientInfo::default();
        let passwords = PasswordHasher::new(1);
        let owner = "bench@example.com";
        let user = create_owner(
            &db,
            &passwords,
            owner,
            "a long bench password".into(),
            &client,
        )
        .await
        .unwrap();
        let draft = KeyDraft {
            name: "Bench".into(),
            scopes: vec!["read".into()],
            expires_in_days: Some(30),
            ips: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let format = KeyFormat::new("ks_live_");
        let keys = Keys::new(
            db.clone(),
            format.clone(),
            CredentialCache::new(Duration::from_secs(60), 10),
            UsageTracker::default(),
            Arc::clone(&catalogue),
            false,
        );
        let by = Manager::member(Actor {
            user: user.user,
            client,
        });
        let issued = keys.create(&by, &draft).await.unwrap();
        let limit = RateLimit {
            name: "requests".into(),
            limit: 1_000_000_000,
            window_seconds: 86_400,
        };
        let limited_draft = KeyDraft {
            ratelimits: vec![limit],
            ..draft
        };
        let limited = keys.create(&by, &limited_draft).await.unwrap();
        let metered_draft = KeyDraft {
            credits: Some(Credits {
                remaining: MAX_CREDITS,
                refill: None,
            }),
            ..limited_draft
        };
        let metered = keys.create(&by, &metered_draft).await.unwrap();
        let limiter = RateLimiter::new(
            db.clone(),
            false,
            Arc::new(LimitBuckets::new(100)),
            Arc::new(Wallets::new(false, 100)),
        );
        let verifier = KeyVerifier::new(
            db,
            format,
            UsageTracker::default(),
            cache.clone(),
            Arc::new(Catalogues::new(catalogue)),
            limiter,
        );
        (verifier, issued.secret, limited.secret, metered.secret)
    });
    Fixture {
        runtime,
        verifier,
        cache,
        required,
        secret,
        limited,
        metered,
        _dir: dir,
    }
}

fn verification(c: &mut Criterion) {
    let f = fixture();
    let ip: Option<IpAddr> = "10.1.2.3".parse().ok();
    let charge = Charge::default();
    let verify = |key: &str| {
        f.runtime
            .block_on(
                f.verifier
                    .verify(black_box(key), &f.required, ip, Some(&charge)),
            )
            .unwrap()
    };
    let digest = keysmith::keys::secret::digest(&f.secret);
    let mut group = c.benchmark_group("verify");
    group.bench_function("cached", |b| b.iter(|| verify(&f.secret)));
    group.bench_function("cached, one rate limit", |b| b.iter(|| verify(&f.limited)));
    group.bench_function("cached, one rate limit and credits", |b| {
        b.iter(|| verify(&f.metered))
    });
    group.bench_function("uncached (database read)", |b| {
        b.iter(|| {
            f.cache.invalidate([digest.as_str()]);
            verify(&f.secret)
        })
    });
    let typo = format!("{}x", &f.secret[..f.secret.len() - 1]);
    group.bench_function("malformed (bad checksum)", |b| b.iter(|| verify(&typo)));
    group.finish();
}

fn key_format(c: &mut Criterion) {
    let format = KeyFormat::new("ks_live_");
    let (secret, _) = format.generate();
    let secret = secret.reveal();
    c.bench_function("key generation", |b| b.iter(|| format.generate()));
    c.bench_function("form and checksum check", |b| {
        b.iter(|| format.is_well_formed(black_box(&secret)))
    });
}

criterion_group!(benches, verification, key_format);
criterion_main!(benches);
