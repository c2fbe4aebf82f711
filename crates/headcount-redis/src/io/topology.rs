//! How a handle reaches Redis: one server, a Redis Cluster, or the primary named by
//! Redis Sentinel; and the two connection types (blocking and async) the rest of
//! the crate runs its commands on, whatever the topology.
//!
//! Everything goes through the `redis` crate's own clients: a cluster connection
//! follows `MOVED`/`ASK` redirects itself and routes each command by its keys
//! (every key of a group is in one hash slot), and a Sentinel target asks the
//! sentinels for the current primary on every new connection, so a connection
//! made after a failover reaches the new primary.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{redact_url, Error, Result};
use crate::io::conn::Options;
use redis::aio::MultiplexedConnection;
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, ConnectionLike, Pipeline, RedisError, RedisFuture,
    RedisResult, Value,
};

/// Where a handle's connections go (one per handle: its size does not matter).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Target {
    /// One server (plain TCP, TLS or a Unix socket).
    Node(redis::Client),
    /// A Redis Cluster, reached through its seed nodes (`seeds`: their addresses;
    /// `settings`: the first seed's user and password, used on every node;
    /// `nodes`: the initial nodes again, for the watcher's own cluster client).
    Cluster {
        client: ClusterClient,
        seeds: String,
        settings: redis::RedisConnectionInfo,
        nodes: ClusterNodes,
    },
    /// The primary that Redis Sentinel names, resolved again for every connection.
    Sentinel(Box<SentinelTarget>),
}

/// Makes a new client of the sentinels (nothing is sent until it resolves).
type SentinelBuild = dyn Fn() -> RedisResult<SentinelClient> + Send + Sync;

/// The sentinels of a [`Target::Sentinel`]: a new client for each blocking
/// resolution (see [`SentinelTarget::resolve`]) and one client for async ones
/// (each resolution needs it mutably).
pub(crate) struct SentinelTarget {
    pub(crate) master: String,
    pub(crate) build: Arc<SentinelBuild>,
    pub(crate) aio: tokio::sync::Mutex<SentinelClient>,
    /// The sentinels' addresses (for messages).
    pub(crate) addrs: String,
    /// The user, password and database of the primary (the first URL's).
    pub(crate) settings: redis::RedisConnectionInfo,
    /// How to reach the first sentinel (with the sentinels' own user and
    /// password): asked directly when a resolution was refused, to tell whose
    /// password was wrong.
    pub(crate) first: Option<redis::Client>,
    /// The sentinels' own user, if one was given (for messages).
    pub(crate) sentinel_user: Option<String>,
}

impl Target {
    /// The address(es) shown in error messages (never a password).
    pub(crate) fn addr(&self) -> String {
        match self {
            Target::Node(c) => c.get_connection_info().addr().to_string(),
            Target::Cluster { seeds, .. } => format!("the Redis Cluster of {seeds}"),
            Target::Sentinel(s) => format!("master `{}` of sentinels {}", s.master, s.addrs),
        }
    }

    /// Whether this is a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster { .. })
    }

    /// The watcher's connection to a Redis Cluster (see `io/watch_cluster.rs`): the
    /// `redis` crate's async cluster connection in RESP3, every push (shard
    /// messages, subscription changes, lost connections) sent to `pushes`. `None`
    /// for the other topologies.
    pub(crate) async fn connect_watch(
        &self,
        pushes: impl redis::aio::AsyncPushSender,
        connect: Duration,
        response: Duration,
    ) -> Option<RedisResult<redis::cluster_async::ClusterConnection>> {
        let Target::Cluster { nodes, .. } = self else {
            return None;
        };
        let builder = redis::cluster::ClusterClientBuilder::new(nodes.infos.clone())
            .use_protocol(redis::ProtocolVersion::RESP3)
            // Bounds each call as a whole, retries and redirects included (the
            // config's reply timeout below bounds only each node's reply).
            .response_timeout(response)
            .push_sender(pushes);
        #[cfg(feature = "tls")]
        let builder = match &nodes.certs {
            Some(c) => builder.certs(c.clone()),
            None => builder,
        };
        let config = ClusterConfig::new()
            .set_connection_timeout(connect)
            .set_response_timeout(response);
        Some(match builder.build() {
            Ok(client) => client.get_async_connection_with_config(config).await,
            Err(e) => Err(e),
        })
    }

    /// A new blocking connection whose setup (connect, TLS, `AUTH`, `SELECT`)
    /// takes at most `timeout` per step.
    pub(crate) fn connect(&self, timeout: Duration) -> RedisResult<Conn> {
        match self {
            Target::Node(c) => Ok(Conn::Node(c.get_connection_with_timeout(timeout)?)),
            Target::Cluster { client: c, .. } => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Ok(Conn::Cluster(Box::new(
                    c.get_connection_with_config(config)?,
                )))
            }
            Target::Sentinel(s) => {
                let client = s.resolve(timeout)?;
                Ok(Conn::Node(client.get_connection_with_timeout(timeout)?))
            }
        }
    }

    /// A new async connection: set up within `connect`, every reply within
    /// `response`.
    pub(crate) async fn connect_async(
        &self,
        connect: Duration,
        response: Duration,
    ) -> RedisResult<AsyncConn> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(Some(response));
        match self {
            Target::Node(c) => Ok(AsyncConn::Node(
                c.get_multiplexed_async_connection_with_config(&config)
                    .await?,
            )),
            Target::Cluster { client: c, .. } => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(connect)
                    .set_response_timeout(response);
                Ok(AsyncConn::Cluster(
                    c.get_async_connection_with_config(config).await?,
                ))
            }
            Target::Sentinel(s) => {
                let resolved = s.aio.lock().await.async_get_client().await;
                let client = match resolved {
                    Ok(c) => c,
                    Err(e) => return Err(s.whose_refusal_async(e, &config).await),
                };
                Ok(AsyncConn::Node(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
        }
    }

    /// The connection settings of the nodes (user, password, database): those of
    /// the server, of the first cluster seed, or those given for the primary.
    pub(crate) fn settings(&self) -> Option<redis::RedisConnectionInfo> {
        match self {
            Target::Node(c) => Some(c.get_connection_info().redis_settings().clone()),
            Target::Cluster { settings, .. } => Some(settings.clone()),
            Target::Sentinel(s) => Some(s.settings.clone()),
        }
    }
}

/// The marker in the description of an error that the sentinels themselves
/// refused their password or user (see [`SentinelTarget::whose_refusal`]).
pub(crate) const SENTINEL_REFUSED: &str = "the sentinels refused";

/// A refused or missing password or user, as the `redis` crate reports it.
fn is_auth_refusal(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
        || [
            "NOAUTH",
            "WRONGPASS",
            "AuthenticationFailed",
            "unauthenticated",
        ]
        .iter()
        .any(|m| text.contains(m))
}

impl SentinelTarget {
    /// The primary the sentinels name now, as a client, within `timeout`.
    ///
    /// The `redis` crate's blocking resolution sets no reply timeout: a frozen
    /// sentinel would block it forever, and since it asks the sentinels in the
    /// order given, every resolution would stop at a frozen first sentinel and
    /// never ask the others. So the resolution is the crate's async one (each
    /// sentinel's reply bounded: a frozen one is passed over for the next), run on
    /// a thread of its own with a new client and a runtime of its own, and is
    /// given up (a timeout, retried like any attempt) after `timeout`; a thread
    /// left blocked ends when the frozen server answers or its connection drops,
    /// and holds nothing another resolution needs.
    fn resolve(&self, timeout: Duration) -> RedisResult<redis::Client> {
        let (tx, rx) = std::sync::mpsc::channel();
        let build = Arc::clone(&self.build);
        std::thread::Builder::new()
            .name("headcount-sentinel".into())
            .spawn(move || {
                let resolved = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(RedisError::from)
                    .and_then(|rt| rt.block_on(async { build()?.async_get_client().await }));
                let _ = tx.send(resolved);
            })?;
        match rx.recv_timeout(timeout) {
            Ok(resolved) => resolved.map_err(|e| self.whose_refusal(e, timeout)),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the sentinels or the primary they name did not answer in time",
            )
            .into()),
        }
    }

    /// `e`, a failed resolution, marked [`SENTINEL_REFUSED`] when it is a refused
    /// password and the first sentinel refuses the sentinels' credentials (rather
    /// than the primary refusing the URL's): the two need different fixes.
    fn whose_refusal(&self, e: redis::RedisError, timeout: Duration) -> redis::RedisError {
        match &self.first {
            Some(first) if is_auth_refusal(&e) => {
                let probe = first
                    .get_connection_with_timeout(timeout)
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
                mark_refusal(e, probe)
            }
            _ => e,
        }
    }

    /// [`whose_refusal`](Self::whose_refusal) for an async connection.
    async fn whose_refusal_async(
        &self,
        e: redis::RedisError,
        config: &AsyncConnectionConfig,
    ) -> redis::RedisError {
        match &self.first {
            Some(first) if is_auth_refusal(&e) => {
                let probe = match first
                    .get_multiplexed_async_connection_with_config(config)
                    .await
                {
                    Ok(mut c) => redis::cmd("PING").query_async::<String>(&mut c).await,
                    Err(p) => Err(p),
                };
                mark_refusal(e, probe)
            }
            _ => e,
        }
    }
}

/// `e`, marked [`SENTINEL_REFUSED`] if the `probe` of a sentinel was refused too.
fn mark_refusal(e: redis::RedisError, probe: RedisResult<String>) -> redis::RedisError {
    match probe {
        Err(p) if is_auth_refusal(&p) => redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            SENTINEL_REFUSED,
            p.to_string(),
        )),
        _ => e,
    }
}

/// The initial nodes of a cluster and the certificates of a `rediss://` cluster,
/// for the watcher's own cluster client (RESP3, with a push sender).
pub(crate) struct ClusterNodes {
    infos: Vec<ConnectionInfo>,
    #[cfg(feature = "tls")]
    certs: Option<redis::TlsCertificates>,
}

/// A blocking connection: to one server, or to a Redis Cluster (one socket per
/// node it has talked to, commands routed by key).
pub(crate) enum Conn {
    Node(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    /// Sets the reply timeout (of every node's socket, for a cluster).
    pub(crate) fn set_read_timeout(&self, d: Option<Duration>) -> RedisResult<()> {
        match self {
            Conn::Node(c) => c.set_read_timeout(d),
            Conn::Cluster(c) => c.set_read_timeout(d),
        }
    }

    /// Sets the send timeout (of every node's socket, for a cluster).
    pub(crate) fn set_write_timeout(&self, d: Option<Duration>) -> RedisResult<()> {
        match self {
            Conn::Node(c) => c.set_write_timeout(d),
            Conn::Cluster(c) => c.set_write_timeout(d),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    /// A pipeline; on a cluster, all of it goes to the node of its first command's
    /// key (the script, then `WAIT`, which must run on that same node).
    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Node(c) => c.req_command(cmd),
            Conn::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }

    /// `true` for both: the cluster connection sends a whole pipeline to one node.
    fn supports_pipelining(&self) -> bool {
        true
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Conn::Node(c) => c.check_connection(),
            Conn::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Conn::Node(c) => c.is_open(),
            Conn::Cluster(c) => c.is_open(),
        }
    }
}

/// An async connection (cheap to clone; clones share it): multiplexed to one
/// server, or a Redis Cluster connection (one multiplexed socket per node,
/// commands and pipelines routed by key).
#[derive(Clone)]
pub(crate) enum AsyncConn {
    Node(MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for AsyncConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            AsyncConn::Node(c) => c.req_packed_command(cmd),
            AsyncConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    /// A pipeline; on a cluster, all of it goes to the node of its commands' slot
    /// (keyless commands such as `WAIT` follow the script's).
    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            AsyncConn::Node(c) => c.req_packed_commands(cmd, offset, count),
            AsyncConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            AsyncConn::Node(c) => c.get_db(),
            AsyncConn::Cluster(c) => c.get_db(),
        }
    }
}

/// Parses one URL into connection info (the error text never holds a password).
pub(crate) fn connection_info(url: &str) -> RedisResult<ConnectionInfo> {
    redis::IntoConnectionInfo::into_connection_info(url)
}

impl Target {
    /// One server, from `client`, with the certificates of `opts` for a
    /// `rediss://` URL.
    pub(crate) fn node(client: redis::Client, opts: &Options) -> Result<Target> {
        opts.no_sentinel_credentials()?;
        let info = client.get_connection_info().clone();
        // Without `CLIENT SETINFO` (two more replies to wait for when a connection is
        // set up; only informational, and refused by servers before 7.2).
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let info = info.set_redis_settings(settings);
        match certificates(opts, &[&info])? {
            None => Ok(Target::Node(redis::Client::open(info).unwrap_or(client))),
            #[cfg(feature = "tls")]
            Some(certs) => {
                let addr = info.addr().to_string();
                redis::Client::build_with_tls(info, certs)
                    .map(Target::Node)
                    .map_err(|e| Error::Tls {
                        addr,
                        detail: e.to_string(),
                    })
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }

    /// A Redis Cluster reached through the initial nodes `urls` (their user and
    /// password are the first URL's; `rediss://` URLs use the certificates of
    /// `opts`).
    pub(crate) fn cluster(urls: &[&str], opts: &Options) -> Result<Target> {
        opts.no_sentinel_credentials()?;
        let infos = parse_all(urls)?;
        let refs: Vec<&ConnectionInfo> = infos.iter().collect();
        let certs = certificates(opts, &refs)?;
        let seeds = infos
            .iter()
            .map(|i| i.addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let settings = infos[0].redis_settings().clone();
        let nodes = ClusterNodes {
            infos: infos.clone(),
            #[cfg(feature = "tls")]
            certs: certs.clone(),
        };
        let builder = redis::cluster::ClusterClientBuilder::new(infos);
        #[cfg(feature = "tls")]
        let builder = match certs {
            Some(c) => builder.certs(c),
            None => builder,
        };
        #[cfg(not(feature = "tls"))]
        let _ = certs;
        builder
            .build()
            .map(|client| Target::Cluster {
                client,
                seeds,
                settings,
                nodes,
            })
            .map_err(|e| Error::InvalidUrl {
                url: redact_url(&urls.join(",")),
                reason: redact_url(&e.to_string()),
            })
    }

    /// The primary named `master` by the sentinels at `urls`. The user, password
    /// and database of the first URL are the primary's (and its replicas');
    /// the sentinels' own user and password are those of `opts`. `rediss://` URLs
    /// reach the sentinels and the primary over TLS, with the certificates of
    /// `opts`.
    pub(crate) fn sentinel(urls: &[&str], master: &str, opts: &Options) -> Result<Target> {
        let infos = parse_all(urls)?;
        if master.is_empty() {
            return Err(Error::InvalidArgument(
                "the Sentinel master name is empty".into(),
            ));
        }
        let (sentinel_user, sentinel_password) = opts.sentinel_credentials()?;
        let refs: Vec<&ConnectionInfo> = infos.iter().collect();
        let certs = certificates(opts, &refs)?;
        let tls = infos
            .iter()
            .filter(|i| matches!(i.addr(), redis::ConnectionAddr::TcpTls { .. }))
            .count();
        if tls != 0 && tls != infos.len() {
            return Err(Error::InvalidUrl {
                url: redact_url(&urls.join(",")),
                reason: "the sentinel URLs mix redis:// and rediss://".into(),
            });
        }
        let settings = infos[0].redis_settings().clone();
        let credentials = |s: &redis::RedisConnectionInfo| {
            (
                s.username().map(str::to_owned),
                s.password().map(str::to_owned),
                s.db(),
            )
        };
        if infos[1..].iter().any(|i| {
            let other = credentials(i.redis_settings());
            other != (None, None, 0) && other != credentials(&settings)
        }) {
            return Err(Error::InvalidUrl {
                url: redact_url(&urls.join(",")),
                reason: "the sentinel URLs give different users, passwords or databases: the primary's go in the first URL (the others may repeat them or give none)".into(),
            });
        }
        let invalid = |e: redis::RedisError| Error::InvalidUrl {
            url: redact_url(&urls.join(",")),
            reason: redact_url(&e.to_string()),
        };
        let build = {
            let addrs: Vec<redis::ConnectionAddr> =
                infos.iter().map(|i| i.addr().clone()).collect();
            let (master, settings) = (master.to_owned(), settings.clone());
            let sentinel_user = sentinel_user.map(str::to_owned);
            let sentinel_password = sentinel_password.map(str::to_owned);
            #[cfg(feature = "tls")]
            let certs = certs.clone();
            move || -> RedisResult<SentinelClient> {
                let mut b =
                    SentinelClientBuilder::new(addrs.clone(), &master, SentinelServerType::Master)?
                        .set_client_to_redis_db(settings.db());
                if let Some(user) = settings.username() {
                    b = b.set_client_to_redis_username(user);
                }
                if let Some(password) = settings.password() {
                    b = b.set_client_to_redis_password(password);
                }
                if let Some(user) = &sentinel_user {
                    b = b.set_client_to_sentinel_username(user);
                }
                if let Some(password) = &sentinel_password {
                    b = b.set_client_to_sentinel_password(password);
                }
                if tls != 0 {
                    b = b.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
                }
                #[cfg(feature = "tls")]
                if let Some(c) = &certs {
                    b = b
                        .set_client_to_sentinel_certificates(c.clone())
                        .set_client_to_redis_certificates(c.clone());
                }
                b.build()
            }
        };
        let aio = tokio::sync::Mutex::new(build().map_err(invalid)?);
        // The first sentinel as the clients reach it, for `whose_refusal`.
        let first = {
            let mut info = infos[0].clone();
            let mut own = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
            if let Some(user) = sentinel_user {
                own = own.set_username(user);
            }
            if let Some(password) = sentinel_password {
                own = own.set_password(password);
            }
            info = info.set_redis_settings(own);
            match &certs {
                None => redis::Client::open(info).ok(),
                #[cfg(feature = "tls")]
                Some(c) => redis::Client::build_with_tls(info, c.clone()).ok(),
                #[cfg(not(feature = "tls"))]
                Some(never) => match *never {},
            }
        };
        let addrs = infos
            .iter()
            .map(|i| i.addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        Ok(Target::Sentinel(Box::new(SentinelTarget {
            master: master.to_owned(),
            build: Arc::new(build),
            aio,
            addrs,
            settings,
            first,
            sentinel_user: sentinel_user.map(str::to_owned),
        })))
    }
}

/// Parses every URL of a list; an empty list or a bad URL is [`Error::InvalidUrl`].
fn parse_all(urls: &[&str]) -> Result<Vec<ConnectionInfo>> {
    if urls.is_empty() {
        return Err(Error::InvalidUrl {
            url: String::new(),
            reason: "no URL given".into(),
        });
    }
    urls.iter()
        .map(|u| {
            connection_info(u.trim()).map_err(|e| Error::InvalidUrl {
                url: redact_url(u),
                reason: redact_url(&e.to_string()),
            })
        })
        .collect()
}

#[cfg(feature = "tls")]
type Certificates = redis::TlsCertificates;
#[cfg(not(feature = "tls"))]
type Certificates = std::convert::Infallible;

/// The certificates of `opts` for connections to `nodes`; `None` when none were
/// given. Certificates for a URL without TLS are refused.
fn certificates(opts: &Options, nodes: &[&ConnectionInfo]) -> Result<Option<Certificates>> {
    if !opts.has_tls_files() {
        return Ok(None);
    }
    if let Some(plain) = nodes
        .iter()
        .find(|i| !matches!(i.addr(), redis::ConnectionAddr::TcpTls { .. }))
    {
        return Err(Error::InvalidUrl {
            url: plain.addr().to_string(),
            reason: "TLS certificates were given for a URL without TLS: use rediss://".into(),
        });
    }
    #[cfg(feature = "tls")]
    {
        let certs = redis::TlsCertificates {
            client_tls: opts
                .tls_client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.0.clone(),
                    client_key: key.0.clone(),
                }),
            root_cert: opts.tls_ca.as_ref().map(|ca| ca.0.clone()),
        };
        // Parsed now, the same way for every topology: a certificate or key that
        // does not parse is a TLS error, not a bad URL.
        let first = nodes[0];
        redis::Client::build_with_tls(first.clone(), certs.clone()).map_err(|e| Error::Tls {
            addr: first.addr().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Some(certs))
    }
    #[cfg(not(feature = "tls"))]
    Err(Error::InvalidArgument(
        "TLS certificates need the `tls` feature of headcount-redis".into(),
    ))
}

#[cfg(test)]
mod tests {
    use crate::{Options, RedisWaitGroup};

    /// Opens `url` as one server, as a cluster's seed and as a sentinel.
    fn open_all(url: &str) -> Vec<crate::Result<RedisWaitGroup>> {
        vec![
            RedisWaitGroup::open_url(url, "g"),
            RedisWaitGroup::open_cluster(&[url], "g", Options::new()),
            RedisWaitGroup::open_sentinel(&[url], "m", "g", Options::new()),
        ]
    }

    /// Without the `tls` feature, a `rediss://` URL is refused when it is opened,
    /// for every topology.
    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_the_tls_feature_a_rediss_url_is_an_invalid_url() {
        for r in open_all("rediss://127.0.0.1:1") {
            assert!(
                matches!(&r, Err(crate::Error::InvalidUrl { reason, .. }) if reason.contains("TLS")),
                "{r:?}"
            );
        }
    }

    /// A certificate or key that does not parse is `Error::Tls` when the group is
    /// opened, for every topology.
    #[cfg(feature = "tls")]
    #[test]
    fn unparsable_certificates_are_a_tls_error_for_every_topology() {
        let url = "rediss://127.0.0.1:1";
        let garbage =
            || Options::new().tls_client_cert(b"not a cert".to_vec(), b"nor a key".to_vec());
        let all = [
            RedisWaitGroup::open_url_with(url, "g", garbage()),
            RedisWaitGroup::open_cluster(&[url], "g", garbage()),
            RedisWaitGroup::open_sentinel(&[url], "m", "g", garbage()),
        ];
        for r in all {
            assert!(matches!(&r, Err(crate::Error::Tls { .. })), "{r:?}");
        }
    }

    /// With it, the same URLs open (nothing is sent before the first call).
    #[cfg(feature = "tls")]
    #[test]
    fn with_the_tls_feature_rediss_urls_open_for_every_topology() {
        for r in open_all("rediss://127.0.0.1:1") {
            assert!(r.is_ok(), "{r:?}");
        }
        for r in open_all("redis://127.0.0.1:1") {
            assert!(r.is_ok(), "{r:?}");
        }
    }
}
