//! Database setup shared by the store's integration tests (and, through `#[path]`, the
//! issuer's): SQLite files and PostgreSQL databases of their own, dose records, generated
//! registry persons.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rand_core::{OsRng, RngCore};
use sqlx::{AnyPool, Executor};
use vaxpass_issuer_domain::dates::Date;
use vaxpass_issuer_domain::identity::{Cccd, IdNumber, Sex};
use vaxpass_issuer_domain::matching::{DoseIdentity, RegistryPerson};
use vaxpass_issuer_store::{Actor, Backend, NewDoseRecord, Vaccination};

/// The environment variable naming the PostgreSQL server used by the tests.
pub const PG_ENV: &str = "VAXPASS_TEST_POSTGRES_URL";

/// The actor that performs test setup.
pub fn test_actor() -> Actor {
    Actor::System("test".into())
}

/// A fresh SQLite database file: its URL and the directory holding it (keep it alive).
pub fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("issuer.db").display()
    );
    (url, dir)
}

/// `url` with its database name replaced (keeping any `?query`).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    match query {
        Some(q) => format!("{}/{db}?{q}", &base[..path]),
        None => format!("{}/{db}", &base[..path]),
    }
}

/// A PostgreSQL database created for one test. `drop().await` removes it; if the test
/// panics first, dropping the value removes it (from a thread of its own).
pub struct PgDb {
    /// The server URL from [`PG_ENV`].
    pub server: String,
    /// The database name.
    pub name: String,
    /// The URL of the new database.
    pub url: String,
    /// Whether the database still has to be dropped.
    live: bool,
}

/// Creates a randomly named database `<prefix>_<hex>` on the server named by [`PG_ENV`], or
/// prints the skip message and returns `None` when the variable is not set.
pub async fn pg_database(prefix: &str) -> Option<PgDb> {
    let Ok(server) = std::env::var(PG_ENV) else {
        println!("SKIPPED (PostgreSQL): {PG_ENV} not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("{prefix}_{:016x}", OsRng.next_u64());
    let admin = AnyPool::connect(&server).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    admin.close().await;
    let url = with_database(&server, &name);
    Some(PgDb {
        server,
        name,
        url,
        live: true,
    })
}

/// Drops database `name` on `server` (forcing out any connection left open).
pub async fn drop_database(server: &str, name: &str) {
    let admin = AnyPool::connect(server).await.unwrap();
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    admin.close().await;
}

impl PgDb {
    /// Drops the database.
    pub async fn drop(mut self) {
        self.live = false;
        drop_database(&self.server, &self.name).await;
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&server, &name));
            }
        })
        .join();
    }
}

/// One test's database: a SQLite file in a temporary directory, or a PostgreSQL database of
/// its own (dropped by [`TestDb::cleanup`], or when the value is dropped if the test fails).
pub struct TestDb {
    /// The database URL.
    pub url: String,
    /// Which backend `url` names.
    pub backend: Backend,
    /// SQLite: the directory holding the file.
    pub dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the database to drop afterwards.
    pg: Option<PgDb>,
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> TestDb {
        let (url, dir) = sqlite_url();
        TestDb {
            url,
            backend: Backend::Sqlite,
            dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (skip message printed) without [`PG_ENV`].
    pub async fn postgres() -> Option<TestDb> {
        let pg = pg_database("vaxpass_test").await?;
        Some(TestDb {
            url: pg.url.clone(),
            backend: Backend::Postgres,
            dir: None,
            pg: Some(pg),
        })
    }

    /// Drops the PostgreSQL database (SQLite: the file goes with the value).
    pub async fn cleanup(self) {
        if let Some(pg) = self.pg {
            pg.drop().await;
        }
    }
}

/// A dose record of `p` at `clinic_id`: Comirnaty, dose `dose` of 2, given on 2021-09-01.
pub fn dose_for(clinic_id: i64, p: &RegistryPerson, dose: u32) -> NewDoseRecord {
    NewDoseRecord {
        clinic_id,
        identity: DoseIdentity::from(p),
        vaccination: Vaccination {
            prophylaxis: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: dose,
            series_total: 2,
            date: Date::parse("2021-09-01").unwrap(),
        },
    }
}

/// `n` registry persons derived from `seed` and their position: distinct CCCD numbers (province
/// 79), Vietnamese names, full birth dates. Reproducible; the store's tests need nothing more.
pub fn generate_persons(n: u64, seed: u64) -> impl Iterator<Item = RegistryPerson> {
    const FAMILY: [&str; 8] = [
        "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ",
    ];
    const MIDDLE: [&str; 4] = ["Văn", "Thị", "Đức", "Ngọc"];
    const GIVEN: [&str; 10] = [
        "An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Minh", "Nga", "Tuấn",
    ];
    (0..n).map(move |i| {
        let k = i.wrapping_mul(2_654_435_761).wrapping_add(seed);
        let sex = if k % 2 == 0 { Sex::Male } else { Sex::Female };
        let year = 1940 + (k % 60) as u16;
        let serial = u32::try_from(i % 1_000_000).unwrap();
        let cccd = Cccd::new(79, sex, year, serial).unwrap();
        let pick = |list: &[&'static str], by: u64| list[(by % list.len() as u64) as usize];
        RegistryPerson {
            id: IdNumber::Cccd(cccd),
            full_name: format!(
                "{} {} {}",
                pick(&FAMILY, k),
                pick(&MIDDLE, k / 8),
                pick(&GIVEN, k / 32)
            ),
            date_of_birth: Date::new(year, 1 + (k % 12) as u8, 1 + (k / 12 % 28) as u8).unwrap(),
            sex,
        }
    })
}
