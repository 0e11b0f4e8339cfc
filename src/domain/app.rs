//! The application state shared by every request, the command-line tool and the background tasks
//! (the listeners that serve it are `server`).

use std::sync::Arc;

use crate::config::{Config, Derived};
use crate::domain::browser::BrowserRooms;
use crate::domain::presence::Presence;
use crate::domain::statistics::StatisticsCache;
use crate::domain::transport::rooms::Rooms;
use crate::ephemeral::Ephemeral;
use crate::geo::GeoReader;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::time::Clock;

pub type AppState = Arc<App>;

pub struct App {
    pub config: Config,
    pub derived: Derived,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub ephemeral: Arc<Ephemeral>,
    pub metrics: Arc<Metrics>,
    pub geo: GeoReader,
    pub started_at: i64,
    /// The public counters, recomputed at most once per `statistics.cache_s`.
    pub statistics: StatisticsCache,
    /// Who is online through the realtime connections (shared by the nodes when Redis is set).
    pub presence: Arc<Presence>,
    /// The chat rooms joined on this node (90-chat-transport).
    pub rooms: Rooms,
    /// This node's browser machines (92-browser-rooms).
    pub browser: Arc<BrowserRooms>,
}

impl App {
    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Result<AppState, String> {
        let derived = config.derive()?;
        let geo = GeoReader::open(&config.geo)?;
        let started_at = clock.now();
        let ephemeral = Arc::new(Ephemeral::new(config.redis_url.as_deref(), &config.redis_prefix)?);
        ephemeral.start();
        let presence = Presence::new(config.presence.clone(), ephemeral.clone());
        let (rooms, room_tasks) = Rooms::new(ephemeral.clone());
        let metrics = Arc::new(Metrics::default());
        let api_port = config
            .bind
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(0);
        let browser = Arc::new(BrowserRooms::new(&config.browser, api_port, metrics.clone())?);
        let app = Arc::new(App {
            config,
            derived,
            store,
            clock,
            ephemeral,
            metrics,
            geo,
            started_at,
            statistics: StatisticsCache::default(),
            presence,
            rooms,
            browser,
        });
        tokio::spawn(crate::domain::transport::handover::follow_expiries(
            Arc::downgrade(&app),
            room_tasks.expired,
        ));
        tokio::spawn(crate::domain::transport::rooms::follow_outbox(
            app.ephemeral.clone(),
            room_tasks.outbox,
        ));
        tokio::spawn(crate::domain::presence::follow_writes(Arc::downgrade(&app)));
        tokio::spawn(crate::domain::presence::follow_store(Arc::downgrade(&app)));
        tokio::spawn(crate::domain::presence::follow_other_nodes(Arc::downgrade(&app)));
        if app.ephemeral.uses_redis() {
            tokio::spawn(crate::domain::presence::keep_shared_presence(Arc::downgrade(&app)));
            tokio::spawn(crate::domain::transport::join::keep_shared_rooms(Arc::downgrade(&app)));
        }
        Ok(app)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The key under which `ip` is limited (00-conventions §10).
    pub fn address_group(&self, ip: std::net::IpAddr) -> crate::address::AddressGroup {
        crate::address::AddressGroup::of(ip, self.config.limits.ipv6_prefix)
    }
}

/// Opens the database named by the configuration and migrates it.
pub async fn open_store(config: &Config) -> Result<Store, String> {
    let url = config.effective_database_url();
    let store = Store::connect(&url, &config.database)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    store.migrate().await.map_err(|e| format!("migration failed: {e}"))?;
    Ok(store)
}
