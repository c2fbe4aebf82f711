//! `headcount`: a distributed WaitGroup for shell scripts and CI jobs, on Redis.
//!
//! See `headcount --help` and this crate's README for the commands and exit codes.

mod progress;
mod status_json;

use std::io::IsTerminal;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use headcount_redis::{
    redact_url, Error, Options, RedisWaitGroup, ACL_CLUSTER_RULE, ACL_RULE, MAX_COUNT, MAX_TTL,
    MIN_TTL,
};

/// Success (`wait`: the counter reached zero).
const EXIT_OK: u8 = 0;
/// An unexpected error.
const EXIT_UNEXPECTED: u8 = 1;
/// Bad arguments or input, or the server refused the credentials.
const EXIT_USAGE: u8 = 2;
/// Redis unreachable, or TLS failed.
const EXIT_UNREACHABLE: u8 = 3;
/// `wait --timeout` ran out.
const EXIT_TIMEOUT: u8 = 4;
/// A participant was lost.
const EXIT_LOST: u8 = 5;
/// A participant failed.
const EXIT_FAILED: u8 = 6;
/// State lost, or no such group.
const EXIT_STATE_LOST: u8 = 7;
/// The counter would go negative or overflow.
const EXIT_REFUSED: u8 = 8;
/// This participant was fenced.
const EXIT_FENCED: u8 = 9;
/// Not confirmed by `--min-replicas` replicas.
const EXIT_NOT_REPLICATED: u8 = 10;

/// Every exit code and its meaning: the "Exit codes" section of `--help` (of the
/// command and of every subcommand) is made from this table.
const EXIT_CODES: [(u8, &str); 11] = [
    (EXIT_OK, "success (for `wait`: the counter reached zero)"),
    (
        EXIT_UNEXPECTED,
        "unexpected error (an error reply from Redis, an unreadable reply)",
    ),
    (
        EXIT_USAGE,
        "usage error: bad arguments, invalid group name, invalid URL, non-numeric or \
         out-of-range N or TTL, an unreadable or non-PEM --tls-* file, TLS flags with a redis:// \
         URL, several URLs without --cluster or --sentinel; or the credentials were \
         refused: authentication required, wrong password or user, no such database, \
         an ACL user lacking a command headcount needs (the error names it), or the \
         sentinels refused their own password (--sentinel-password)",
    ),
    (
        EXIT_UNREACHABLE,
        "Redis unreachable (refused, dropped, or no answer for 10s; with --sentinel, \
         no primary named in 10s); TLS failed (the server's certificate is not signed \
         by --tls-ca or does not name the host, the server refused or wanted the \
         client certificate, or a --tls-* PEM file does not parse)",
    ),
    (EXIT_TIMEOUT, "timeout (`wait --timeout`)"),
    (
        EXIT_LOST,
        "a participant was lost (its lease expired: process died or stalled)",
    ),
    (
        EXIT_FAILED,
        "a participant failed (`run`: the command failed or could not start)",
    ),
    (
        EXIT_STATE_LOST,
        "state lost (restart, rollback, a lost key, expiry, delete) or no such group",
    ),
    (
        EXIT_REFUSED,
        "refused: the counter would go negative or overflow (nothing written)",
    ),
    (
        EXIT_FENCED,
        "fenced: this participant's lease was reaped; its done was not counted",
    ),
    (
        EXIT_NOT_REPLICATED,
        "not replicated (`--min-replicas`): applied on the primary, but too few \
         replicas confirmed it in time; it may or may not survive a failover",
    ),
];

/// The help before the exit codes.
const HELP_BEFORE_EXIT_CODES: &str = "\
Accepted values:
  N          -9007199254740991 to 9007199254740991 (2^53 - 1)
  --ttl      100ms to 24h (humantime: 500ms, 30s, 10m, 2h)
  --timeout  any duration; one too long to represent is no timeout

Deadlines:
  `wait --timeout D` returns within D + 1s, whatever the server does
  (exit 4 also when Redis did not answer in time; exit 3 when it refused
  or dropped the connection).
  Every other Redis call gives up with exit 3 once Redis has not answered
  for 10s (connection refused, server gone or frozen); a first connection
  refused fails at once.";

/// The help after the exit codes.
const HELP_AFTER_EXIT_CODES: &str = "\
Topologies:
  one server     --redis redis://[USER:PASSWORD@]HOST:PORT[/DB]
  TLS            --redis rediss://HOST:PORT [--tls-ca CA.pem]
                 [--tls-cert CLIENT.pem --tls-key CLIENT.key]
  Redis Cluster  --cluster --redis redis://NODE1:PORT,redis://NODE2:PORT,...
                 (seed nodes; MOVED/ASK redirects and slot migrations are
                 followed; rediss:// seeds with the --tls-* flags for a cluster
                 that speaks TLS)
  Sentinel       --sentinel MASTER --redis redis://SENTINEL1:26379,redis://...
                 (the primary is asked of the sentinels on every new connection:
                 a failover is followed; use --min-replicas 1 so that no
                 acknowledged add/done is lost). The user, password and /DB of
                 the first URL are the primary's: redis://USER:PASSWORD@S1:26379;
                 sentinels that need a password of their own get it from
                 --sentinel-password (and --sentinel-user). rediss:// sentinel
                 URLs: the sentinels and the primary over TLS, with the --tls-*
                 flags.

Failures print one line on stderr saying what happened. No output shows a
password (--help hides the values of HEADCOUNT_REDIS_URL and
HEADCOUNT_SENTINEL_PASSWORD).

State and clean-up:
  A group's keys expire after --expire-after of idleness (default 7 days); every
  command refreshes them. `headcount delete NAME` removes a group at once; its
  waiters exit 7. A group whose state was lost, rolled back (failover to a replica
  that missed writes, restart from an older snapshot) or partly evicted is exit 7,
  never a zero counter; `--min-replicas N` makes every add/done/run wait until N
  replicas have it, so that it survives a failover.";

/// `text` wrapped at 78 columns, every line after the first indented by `indent`.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut width = indent;
    for word in text.split_whitespace() {
        if width > indent && width + 1 + word.len() > 78 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            width = indent;
        } else if width > indent {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += word.len();
    }
    out
}

/// The text after the options in `--help` (of the command and of every
/// subcommand): accepted values, deadlines, the exit codes, topologies and the
/// least-privilege ACL rule.
fn after_help() -> String {
    let codes: String = EXIT_CODES
        .iter()
        .map(|(code, meaning)| format!("\n  {code:<3} {}", wrap(meaning, 6)))
        .collect();
    format!(
        "{HELP_BEFORE_EXIT_CODES}\n\nExit codes:{codes}\n\n{HELP_AFTER_EXIT_CODES}\n\n\
         Least-privilege Redis user (Redis 7; `+select` only for a URL with /DB):\n  \
         ACL SETUSER headcount reset on >PASSWORD {ACL_RULE}\n\
         With --cluster, on every node, also:\n  {ACL_CLUSTER_RULE}"
    )
}

/// The command line: [`Cli`], with [`after_help`] on the command and on every
/// subcommand.
fn command() -> clap::Command {
    let help = after_help();
    Cli::command()
        .after_help(help.clone())
        .mut_subcommands(|sub| sub.after_help(help.clone()))
}

/// A distributed WaitGroup on Redis: `add` before the work, `done` (or `run`) in each
/// worker on any machine, `wait` until the counter is zero. A crashed worker is an
/// error, not a hang.
#[derive(Debug, Parser)]
#[command(name = "headcount", version)]
struct Cli {
    /// Redis server URL: redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://...
    /// for TLS. With --cluster or --sentinel: a comma-separated list of URLs
    /// (cluster seed nodes, or sentinels).
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379",
        value_name = "URL"
    )]
    redis: String,

    /// Durable acknowledgements: every add, done and run (join, done, failure) is
    /// acknowledged only once N replicas have it (Redis WAIT); fewer in time is
    /// exit 10.
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_MIN_REPLICAS",
        default_value_t = 0,
        value_name = "N"
    )]
    min_replicas: usize,

    /// How long a write waits for --min-replicas to confirm it.
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_REPLICA_TIMEOUT",
        default_value = "1s",
        value_parser = humantime::parse_duration,
        value_name = "DURATION"
    )]
    replica_timeout: Duration,

    /// Every key of the group expires after it has been idle this long (at least
    /// 1s); every command refreshes it.
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_EXPIRE_AFTER",
        default_value = "7days",
        value_parser = parse_expire_after,
        value_name = "DURATION"
    )]
    expire_after: Duration,

    /// Treat the --redis URLs as seed nodes of a Redis Cluster.
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_REDIS_CLUSTER",
        value_parser = clap::builder::FalseyValueParser::new(),
        conflicts_with = "sentinel"
    )]
    cluster: bool,

    /// Reach the primary that Redis Sentinel names MASTER; the --redis URLs are
    /// the sentinels' (the user and password in them are the primary's).
    #[arg(long, global = true, env = "HEADCOUNT_SENTINEL", value_name = "MASTER")]
    sentinel: Option<String>,

    /// With --sentinel: the sentinels' own password (their `requirepass`), if
    /// they need one. Prefer the environment variable: a command line is visible
    /// to other users of the machine.
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_SENTINEL_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    sentinel_password: Option<String>,

    /// With --sentinel-password: the sentinels' own ACL user (default: their
    /// default user).
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_SENTINEL_USER",
        value_name = "USER"
    )]
    sentinel_user: Option<String>,

    /// For rediss:// URLs: trust only this CA certificate (PEM file), not the
    /// system's roots.
    #[arg(long, global = true, env = "HEADCOUNT_TLS_CA", value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,

    /// For rediss:// URLs: present this client certificate (PEM file; needs
    /// --tls-key).
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM file).
    #[arg(
        long,
        global = true,
        env = "HEADCOUNT_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Add N (may be negative) to the counter; the first add creates the group.
    Add {
        /// Group name: 1-128 characters of A-Z a-z 0-9 _ . : -
        name: String,
        /// The delta: -(2^53 - 1) to 2^53 - 1.
        #[arg(allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-MAX_COUNT..=MAX_COUNT))]
        n: i64,
    },
    /// Subtract one from the counter.
    Done {
        /// Group name.
        name: String,
    },
    /// Block until the counter reaches zero (exit 0), or report why it cannot.
    Wait {
        /// Group name.
        name: String,
        /// Give up after this long (e.g. 90s, 10m, 1h 30m): exit 4, within the
        /// timeout + 1s even if Redis is gone or frozen.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        timeout: Option<Duration>,
    },
    /// Join with a lease, run CMD, then `done` if it succeeded, or mark the group
    /// failed with its exit status.
    Run {
        /// Group name.
        name: String,
        /// Lease time-to-live, 100ms to 24h: if this process stalls or dies for
        /// longer, waiters report it lost.
        #[arg(long, value_parser = parse_ttl, default_value = "10s", value_name = "DURATION")]
        ttl: Duration,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Print the counter alone, as a number.
    Count {
        /// Group name.
        name: String,
    },
    /// Print the group's state for people: count, participants, leases, failures,
    /// and a warning when the server may evict the group's keys.
    Status {
        /// Group name.
        name: String,
        /// Print one JSON object instead (schema in the README): count, round,
        /// state, broken reason, participants with their leases' remaining time,
        /// failures, warnings.
        #[arg(long)]
        json: bool,
    },
    /// Delete the group now (every key); its waiters exit 7. Exit 7 if it does not
    /// exist.
    Delete {
        /// Group name.
        name: String,
    },
}

/// `--expire-after`: a humantime duration of at least one second.
fn parse_expire_after(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) {
        return Err("the idle expiry must be at least 1s".into());
    }
    Ok(d)
}

/// A lease TTL: a humantime duration from `MIN_TTL` to `MAX_TTL`.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if (MIN_TTL..=MAX_TTL).contains(&d) {
        Ok(d)
    } else {
        Err("a lease TTL must be from 100ms to 24h".into())
    }
}

/// The exit code for a library error (see `EXIT_CODES`).
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::InvalidName { .. }
        | Error::InvalidUrl { .. }
        | Error::InvalidArgument(_)
        | Error::AuthRequired { .. }
        | Error::AuthFailed { .. }
        | Error::NoSuchDatabase { .. }
        | Error::NoPermission { .. }
        | Error::SentinelAuthFailed { .. } => EXIT_USAGE,
        Error::Unreachable { .. } | Error::Tls { .. } => EXIT_UNREACHABLE,
        Error::Timeout { .. } => EXIT_TIMEOUT,
        Error::ParticipantLost { .. } => EXIT_LOST,
        Error::ParticipantFailed { .. } => EXIT_FAILED,
        Error::StateLost { .. } | Error::NoSuchGroup { .. } => EXIT_STATE_LOST,
        Error::NegativeCounter { .. } | Error::Overflow { .. } | Error::NothingToJoin { .. } => {
            EXIT_REFUSED
        }
        Error::Fenced { .. } | Error::NotJoined { .. } => EXIT_FENCED,
        Error::NotReplicated { .. } => EXIT_NOT_REPLICATED,
        _ => EXIT_UNEXPECTED,
    }
}

/// A failure: its exit code and the one line to print.
struct Failure(u8, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(exit_code(&e), e.to_string())
    }
}

/// Reads a certificate or key file named by an option (unreadable, or not PEM
/// at all: usage error).
fn read_pem(flag: &str, path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let usage = |what: String| Failure(EXIT_USAGE, format!("{flag} {}: {what}", path.display()));
    let pem = std::fs::read(path).map_err(|e| usage(format!("cannot read it: {e}")))?;
    if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(usage("not a PEM file (no -----BEGIN line)".into()));
    }
    Ok(pem)
}

/// The options of the command line, certificates read.
fn options(cli: &Cli) -> Result<Options, Failure> {
    let mut options = Options::new()
        .min_replicas(cli.min_replicas)
        .replica_timeout(cli.replica_timeout)
        .expire_after(cli.expire_after);
    if let Some(ca) = &cli.tls_ca {
        options = options.tls_ca(read_pem("--tls-ca", ca)?);
    }
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        options =
            options.tls_client_cert(read_pem("--tls-cert", cert)?, read_pem("--tls-key", key)?);
    }
    if let Some(password) = &cli.sentinel_password {
        options = options.sentinel_password(password.as_str());
    }
    if let Some(user) = &cli.sentinel_user {
        options = options.sentinel_user(user.as_str());
    }
    Ok(options)
}

/// Where the groups are: `--redis`, `--cluster`, `--sentinel`.
struct Topology {
    redis: String,
    cluster: bool,
    sentinel: Option<String>,
}

/// Opens group `name` on the topology of the command line.
fn open_group(topo: &Topology, options: &Options, name: &str) -> Result<RedisWaitGroup, Error> {
    let urls: Vec<&str> = topo.redis.split(',').map(str::trim).collect();
    if topo.cluster {
        return RedisWaitGroup::open_cluster(&urls, name, options.clone());
    }
    if let Some(master) = &topo.sentinel {
        return RedisWaitGroup::open_sentinel(&urls, master, name, options.clone());
    }
    if urls.len() > 1 {
        return Err(Error::InvalidArgument(
            "--redis lists several URLs: add --cluster (seed nodes of a Redis Cluster) or --sentinel MASTER".into(),
        ));
    }
    RedisWaitGroup::open_url_with(&topo.redis, name, options.clone())
}

fn run(cli: Cli) -> Result<(), Failure> {
    let options = options(&cli)?;
    let topo = Topology {
        redis: cli.redis.clone(),
        cluster: cli.cluster,
        sentinel: cli.sentinel.clone(),
    };
    let open = |name: &str| open_group(&topo, &options, name);
    match cli.command {
        Cmd::Add { name, n } => open(&name)?.add(n)?,
        Cmd::Done { name } => open(&name)?.done()?,
        Cmd::Wait { name, timeout } => {
            let wg = open(&name)?;
            let terminal = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
            if terminal {
                progress::wait(wg, timeout)?
            } else {
                match timeout {
                    Some(t) => wg.wait_timeout(t)?,
                    None => wg.wait()?,
                }
            }
        }
        Cmd::Count { name } => println!("{}", open(&name)?.count()?),
        Cmd::Status { name, json: false } => println!("{}", open(&name)?.status()?),
        Cmd::Status { name, json: true } => {
            println!("{}", status_json::to_json(&open(&name)?.status()?))
        }
        Cmd::Delete { name } => open(&name)?.delete()?,
        Cmd::Run { name, ttl, command } => {
            let wg = open(&name)?;
            let lease = wg.join(ttl)?;
            let shown = command.join(" ");
            let outcome = Command::new(&command[0]).args(&command[1..]).status();
            match outcome {
                Ok(status) if status.success() => lease.done()?,
                Ok(status) => {
                    let detail = status.to_string();
                    lease.fail(&detail)?;
                    return Err(Failure(
                        EXIT_FAILED,
                        format!(
                            "command `{shown}` failed ({detail}); group `{name}` marked failed"
                        ),
                    ));
                }
                Err(e) => {
                    let detail = format!("could not start: {e}");
                    lease.fail(&detail)?;
                    return Err(Failure(
                        EXIT_FAILED,
                        format!("command `{shown}` {detail}; group `{name}` marked failed"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::from(EXIT_OK);
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(EXIT_USAGE);
            }
            // One plain line: clap's message (up to its usage hint), joined.
            let text = e.to_string();
            let line = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!(
                "headcount: {}",
                redact_url(line.trim_start_matches("error: "))
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(Failure(code, line)) => {
            // The library's errors never hold a password; the command line a
            // failure may quote (`run`'s) could.
            eprintln!("headcount: {}", redact_url(&line));
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help of the command and of every subcommand.
    fn helps() -> Vec<(String, String)> {
        let mut cmd = command();
        cmd.build();
        let mut all = vec![("headcount".to_owned(), cmd.render_long_help().to_string())];
        // Not `help`'s own help (`headcount help --help`).
        for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
            let name = sub.get_name().to_owned();
            all.push((name, sub.render_long_help().to_string()));
        }
        all
    }

    #[test]
    fn every_help_lists_every_exit_code_constant_with_its_meaning() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, (0..=10).collect::<Vec<u8>>(), "0 to 10, once each");
        let constants = [
            EXIT_OK,
            EXIT_UNEXPECTED,
            EXIT_USAGE,
            EXIT_UNREACHABLE,
            EXIT_TIMEOUT,
            EXIT_LOST,
            EXIT_FAILED,
            EXIT_STATE_LOST,
            EXIT_REFUSED,
            EXIT_FENCED,
            EXIT_NOT_REPLICATED,
        ];
        for c in constants {
            assert!(
                codes.contains(&c),
                "exit code {c} has no meaning in EXIT_CODES"
            );
        }
        let helps = helps();
        assert!(helps.len() >= 8, "{}", helps.len());
        for (name, help) in &helps {
            let section = help
                .split("Exit codes:")
                .nth(1)
                .unwrap_or_else(|| panic!("`{name} --help` has no exit codes"));
            for (code, meaning) in EXIT_CODES {
                let line = format!("\n  {code:<3} ");
                let at = section
                    .find(&line)
                    .unwrap_or_else(|| panic!("`{name} --help` lacks exit code {code}"));
                // The meaning follows the code, word for word (wrapped).
                let shown: Vec<&str> = section[at + line.len()..].split_whitespace().collect();
                let words: Vec<&str> = meaning.split_whitespace().collect();
                assert_eq!(
                    &shown[..words.len()],
                    &words[..],
                    "`{name} --help`, code {code}"
                );
            }
        }
    }

    #[test]
    fn every_help_lists_every_flag_and_its_environment_variable() {
        let mut cmd = command();
        cmd.build();
        let mut flags: Vec<(String, Option<String>)> = Vec::new();
        let mut collect = |c: &clap::Command| {
            for arg in c.get_arguments() {
                if let Some(long) = arg.get_long() {
                    let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                    flags.push((format!("--{long}"), env));
                }
            }
        };
        collect(&cmd);
        for sub in cmd.get_subcommands() {
            collect(sub);
        }
        for flag in [
            "--redis",
            "--cluster",
            "--sentinel",
            "--sentinel-password",
            "--sentinel-user",
            "--tls-ca",
            "--tls-cert",
            "--tls-key",
            "--min-replicas",
            "--replica-timeout",
            "--expire-after",
            "--timeout",
            "--ttl",
            "--json",
        ] {
            assert!(flags.iter().any(|(f, _)| f == flag), "{flag} is not a flag");
        }
        let helps = helps();
        let all: String = helps.iter().map(|(_, h)| h.as_str()).collect();
        for (flag, env) in &flags {
            let shown = [' ', '\n']
                .iter()
                .any(|end| all.contains(&format!("{flag}{end}")));
            assert!(shown, "no help shows {flag}");
            if let Some(env) = env {
                assert!(all.contains(env.as_str()), "no help shows {env}");
            }
        }
        // The global flags are in every subcommand's help.
        for (name, help) in &helps {
            for flag in ["--redis", "--sentinel-password", "--tls-ca", "--cluster"] {
                assert!(help.contains(flag), "`{name} --help` lacks {flag}");
            }
        }
    }

    #[test]
    fn the_readme_lists_every_flag_environment_variable_and_exit_code() {
        let readme = include_str!("../README.md");
        let mut cmd = command();
        cmd.build();
        let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
        for c in std::iter::once(&cmd).chain(subs) {
            for arg in c.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if ["help", "version"].contains(&long) {
                    continue;
                }
                assert!(
                    readme.contains(&format!("`--{long}")),
                    "README lacks --{long}"
                );
                if let Some(env) = arg.get_env() {
                    let env = env.to_string_lossy();
                    assert!(readme.contains(&*env), "README lacks {env}");
                }
            }
        }
        let table = readme
            .split("## Exit codes")
            .nth(1)
            .expect("README: no exit codes");
        for (code, _) in EXIT_CODES {
            assert!(
                table.contains(&format!("\n| {code} | ")),
                "README lacks exit code {code}"
            );
        }
    }

    #[test]
    fn exit_codes_of_errors_are_in_the_table() {
        let cases = [
            (Error::InvalidArgument("x".into()), EXIT_USAGE),
            (
                Error::SentinelAuthFailed {
                    sentinels: "127.0.0.1:1".into(),
                    user: None,
                },
                EXIT_USAGE,
            ),
            (
                Error::Tls {
                    addr: "127.0.0.1:1".into(),
                    detail: "invalid peer certificate".into(),
                },
                EXIT_UNREACHABLE,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(exit_code(&e), code, "{e}");
        }
    }
}
