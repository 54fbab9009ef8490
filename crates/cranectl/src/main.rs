//! `cranectl`: Crane from the command line. Client commands talk to a running engine (the desktop app or
//! `cranectl serve`) over its REST API, found through `<data_dir>/api.json` and `<data_dir>/token`; `serve` runs an
//! engine in this process.
//!
//! Exit codes: 0 success, 1 failure (the reason on stderr), 2 usage error.

mod client;
mod error;
mod experiment;
mod lab;
mod load;
mod output;
mod policy;
mod scan;
mod serve;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use crane_api::{ChangeView, LogLineView};
use futures_util::StreamExt;

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::Format;

const ABOUT: &str = "Run apps on the local Docker engine through Crane";

const EXAMPLES: &str = "\
Examples:
  cranectl serve                      # run an engine here (or start the desktop app)
  cranectl demo-image                 # build the offline demo image
  cranectl check -f web.yaml          # what applying it would meet: problems (line:column), image, policy
  cranectl apply -f web.yaml          # create or update the app described in web.yaml
  cranectl images                     # the Docker engine's images, the demo image marked
  cranectl get apps                   # list apps
  cranectl describe app web           # one app, its instances and recent events
  cranectl scale web 3
  cranectl logs web -f
  cranectl rollout history web        # revisions of the app; `rollout undo web` returns to the previous one
  cranectl load web --rate 100 --duration 60s   # send load through the app's load balancer, then report
  cranectl chart web rps --range 1h -f rps.svg  # one chart of the app's metrics as SVG
  cranectl experiment record web --name stab-10s --rate 40 --duration 30s --after 60s   # a run to compare
  cranectl experiment overlay stab-10s stab-60s --out overlay.svg   # two runs on the same axes
  cranectl get metrics                # Crane's own metrics (Prometheus text format)
  cranectl export nginx web -f web.conf
  cranectl delete web
  cranectl user add alice --role operator   # a user and their first token (admins)
  cranectl audit --user alice         # who changed what, through which door (admins)
  cranectl policy list                # admission, scaling and alerts policies (Rego); `policy test` runs their tests

Environment:
  CRANE_DATA_DIR   the engine's data directory (api.json and its token; default ~/.local/share/crane)
  CRANE_TOKEN      a user token to act with instead of the data directory's token (acts with its role)
  CRANE_URL        the engine's address (http://HOST:PORT) instead of <data dir>/api.json";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "cranectl", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
struct Cli {
    /// Crane data directory: where the running engine keeps api.json and token.
    #[arg(long, global = true, env = "CRANE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Output format of commands that print resources (get, describe, status, apply, check, images, scale, rollout,
    /// load).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value = "table", value_name = "FORMAT")]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an app from a spec, or update it to match the spec.
    #[command(after_help = "Examples:\n  cranectl apply -f web.yaml\n  cat web.yaml | cranectl apply -f -")]
    Apply(SpecArgs),
    /// Create an app from a spec; fails if it exists already.
    #[command(after_help = "Example:\n  cranectl create -f web.yaml")]
    Create(SpecArgs),
    /// Check a spec, or a file of `---` separated specs, without applying it: every problem with its line, column
    /// and fix, and for each app whether an apply would create or update it, whether its image is present and what
    /// the admission policy says. Exits 1 when an apply would be refused.
    #[command(after_help = "Examples:\n  cranectl check -f web.yaml\n  cranectl check -f apps.yaml -o json\n  \
                      cat web.yaml | cranectl check -f -")]
    Check(SpecArgs),
    /// List the Docker engine's images (one row per tag), marking Crane's demo image.
    #[command(after_help = "Examples:\n  cranectl images\n  cranectl images -o json")]
    Images,
    /// List apps, one app, instances or events.
    #[command(
        after_help = "Examples:\n  cranectl get apps\n  cranectl get app web -o yaml\n  cranectl get instances web\n  \
                      cranectl get events --app web --limit 20"
    )]
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Show one app in detail: settings, instances and its latest events.
    #[command(after_help = "Example:\n  cranectl describe app web")]
    Describe {
        #[command(subcommand)]
        what: DescribeWhat,
    },
    /// Change the number of replicas of an app.
    #[command(after_help = "Example:\n  cranectl scale web 3")]
    Scale {
        /// App name.
        app: String,
        /// New replica count.
        replicas: u32,
    },
    /// Delete an app with its containers, network and volumes.
    #[command(after_help = "Example:\n  cranectl delete web")]
    Delete {
        /// App name.
        app: String,
    },
    /// Print the logs of every instance of an app.
    #[command(after_help = "Examples:\n  cranectl logs web --tail 20\n  cranectl logs web -f")]
    Logs {
        /// App name.
        app: String,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines (of all instances together).
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
        /// Print only the text, without the `instance |` prefix.
        #[arg(long)]
        no_prefix: bool,
    },
    /// Inspect and undo rolling updates: revision history, status, rollback.
    #[command(after_help = "Examples:\n  cranectl rollout history web\n  cranectl rollout status web\n  \
                      cranectl rollout undo web\n  cranectl rollout undo web --to 2")]
    Rollout {
        #[command(subcommand)]
        what: RolloutWhat,
    },
    /// Export an app for other tools (an NGINX config of its ready instances).
    #[command(after_help = "Examples:\n  cranectl export nginx web\n  \
                      cranectl export nginx web --listen 8081 -f /etc/nginx/conf.d/web.conf")]
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Let Crane keep an NGINX config up to date (rewritten and reloaded when the ready instances change).
    #[command(
        after_help = "Examples:\n  cranectl nginx manage web --config /etc/nginx/conf.d/web.conf --pid-file /run/nginx.pid\n  \
                      cranectl nginx unmanage web"
    )]
    Nginx {
        #[command(subcommand)]
        what: NginxWhat,
    },
    /// Send HTTP load to an app through its load balancer; follow the run and print its report.
    #[command(after_help = LOAD_EXAMPLES)]
    Load(LoadArgs),
    /// Render one chart of an app's metrics (over the last --range) as SVG.
    #[command(
        after_help = "Examples:\n  cranectl chart web rps > rps.svg\n  cranectl chart web cpu --range 1h -f cpu.svg\n  \
                      cranectl chart web replicas --range 24h -f replicas.svg\n\n\
                      Charts: cpu and memory (per instance), rps (requests per second), latency (p95), errors (5xx \
                      per second), replicas (desired and ready). The autoscaler's target is drawn as a line, its \
                      decisions as markers."
    )]
    Chart {
        /// App name.
        app: String,
        /// Which chart.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(crane_engine::charts::METRICS.iter().copied()))]
        metric: String,
        /// How far back: 5m, 1h, 24h (10s to 7d).
        #[arg(long, default_value = "5m", value_name = "RANGE")]
        range: String,
        /// Write the SVG to this file instead of standard output.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Send a few requests through an app's load balancer and show which instance answered each (the demo image
    /// names itself in `X-Crane-Instance`): the load balancer at work.
    #[command(
        after_help = "Examples:\n  cranectl requests web\n  cranectl requests web -n 20 --path /work?ms=5 -o json"
    )]
    Requests {
        /// App name.
        app: String,
        /// How many requests (1 to 50).
        #[arg(short = 'n', long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
        count: u32,
        /// The path requested.
        #[arg(long, default_value = "/")]
        path: String,
    },
    /// Build the offline demo image (crane-demo), showing progress; `--vulnerable` builds crane-demo:vulnerable,
    /// whose package records have known advisories (the "blocked by a CVE" lesson).
    #[command(after_help = "Examples:\n  cranectl demo-image\n  cranectl demo-image --vulnerable")]
    DemoImage {
        /// Build the vulnerable variant.
        #[arg(long)]
        vulnerable: bool,
    },
    /// Scan a local image for vulnerabilities (OSV advisories) and hygiene, print its SBOM, or manage the advisory
    /// database.
    #[command(
        after_help = "Examples:\n  cranectl scan crane-demo:0.1.0\n  cranectl scan crane-demo:vulnerable -o json\n  \
                      cranectl scan crane-demo:0.1.0 --sbom cyclonedx > sbom.json\n  \
                      cranectl scan db import assets/scan/osv\n  cranectl scan db update --ecosystem Debian\n  \
                      cranectl scan db status"
    )]
    Scan(scan::ScanArgs),
    /// Show the engine's status: version, Docker, API address, data directory.
    #[command(after_help = "Example:\n  cranectl status")]
    Status,
    /// Show the engine's settings, or change one (changing needs an admin token).
    #[command(after_help = SETTINGS_HELP)]
    Settings {
        #[command(subcommand)]
        what: Option<SettingsWhat>,
    },
    /// Crane's policies (Rego): list, print, change, check, reset, evaluate and test them.
    #[command(after_help = "Examples:\n  cranectl policy list\n  cranectl policy get admission > admission.rego\n  \
                      cranectl policy set admission -f admission.rego\n  cranectl policy eval scaling -f input.json\n  \
                      cranectl policy reset admission\n  cranectl policy test\n\n\
                      Conventions and input documents: policies/README.md.")]
    Policy {
        #[command(subcommand)]
        what: policy::PolicyWhat,
    },
    /// Preset labs: list them, load one (shipped id, folder or archive), follow its checks, reset it.
    #[command(after_help = "Examples:\n  cranectl lab list\n  cranectl lab load self-healing\n  \
                      cranectl lab load ./my-lab        # a folder holding lab.yaml\n  \
                      cranectl lab load my-lab.tar.gz\n  cranectl lab status\n  cranectl lab reset\n\n\
                      The lab format: docs/labs.md.")]
    Lab {
        #[command(subcommand)]
        what: lab::LabWhat,
    },
    /// Experiments: record a run of an app (settings, load, series), compare runs on the same axes, export them.
    #[command(after_help = "Examples:\n  \
                      cranectl experiment record web --name stab-10s --rate 40 --duration 30s --path '/work?ms=20' --after 60s\n  \
                      cranectl experiment list\n  cranectl experiment show stab-10s\n  \
                      cranectl experiment overlay stab-10s stab-60s --out overlay.svg\n  \
                      cranectl experiment export stab-10s stab-60s --format csv --out runs.csv\n  \
                      cranectl experiment stop stab-10s\n  cranectl experiment delete stab-10s")]
    Experiment {
        #[command(subcommand)]
        what: experiment::ExperimentWhat,
    },
    /// Manage bearer tokens: make, list and revoke users' tokens, rotate the engine's own (admins).
    #[command(after_help = "Examples:\n  cranectl token create --role viewer --user alice --label dashboard\n  \
                      cranectl token ls\n  cranectl token revoke 0123456789ab\n  cranectl token rotate")]
    Token {
        #[command(subcommand)]
        what: TokenWhat,
    },
    /// Manage users (admins): each has a role (viewer, operator, admin) and tokens; operators manage only the apps
    /// they created.
    #[command(after_help = "Examples:\n  cranectl user add alice --role operator\n  cranectl user ls\n  \
                      cranectl user rm alice")]
    User {
        #[command(subcommand)]
        what: UserWhat,
    },
    /// Show the audit log, newest first: who changed (or tried to change) what, with which role, through which
    /// door, and how it ended (admins).
    #[command(after_help = "Examples:\n  cranectl audit\n  cranectl audit --user alice --limit 20\n  \
                      cranectl audit --app web -o json")]
    Audit {
        /// Only requests of this user.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only requests about this app.
        #[arg(long, value_name = "APP")]
        app: Option<String>,
        /// At most this many rows (1 to 10000).
        #[arg(long, default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Alert rules and the alerts of Crane's built-in evaluator (it evaluates the rules over Crane's own /metrics).
    #[command(after_help = "Examples:\n  cranectl alerts rules\n  cranectl alerts apply -f rules.yml\n  \
                      cranectl alerts export > crane.rules.yml\n  cranectl alerts active\n  cranectl alerts history --limit 20")]
    Alerts {
        #[command(subcommand)]
        what: AlertsWhat,
    },
    /// Run a Crane engine and its REST API in this process until Ctrl-C or SIGTERM.
    #[command(
        after_help = "Examples:\n  cranectl serve\n  cranectl serve --listen 127.0.0.1:7600 --data-dir /tmp/crane\n\n\
                      Stopping leaves the apps' containers running; the next engine on the same data dir adopts them."
    )]
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR:PORT")]
        listen: SocketAddr,
        /// Accept a non-loopback --listen address (anyone with the token then controls your Docker engine).
        #[arg(long)]
        allow_remote: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  cranectl completion bash > ~/.local/share/bash-completion/completions/cranectl\n  \
                      cranectl completion zsh > \"${fpath[1]}/_cranectl\""
    )]
    Completion {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

const SETTINGS_HELP: &str = "\
Examples:
  cranectl settings                                  # show them
  cranectl settings set allowUnsafe false
  cranectl settings set hostPathAllow /srv/data,/opt/x   # replaces the list; '' empties it
  cranectl settings set alertmanager_url http://127.0.0.1:9093
  cranectl settings set opa_url http://127.0.0.1:8181
  cranectl settings set opa_policies admission          # '' for none

Settings:
  allowUnsafe     true|false. When true, the safety floor is off: specs may ask for privileged containers, any host
                  path (read-write) and any capability, which is root on the host. Off by default.
  hostPathAllow   Comma-separated absolute host directories specs may bind-mount, read-only (never /, a system
                  directory or the data directory). Empty by default.
  alertmanager_url
                  An Alertmanager Crane sends its firing and resolved alerts to (API v2), as Prometheus does.
                  '' for none (the default).
  opa_url         An OPA server that decides the policies named in opa_policies over its REST Data API.
  opa_policies    Comma-separated policies (admission, scaling, alerts) decided by that OPA server instead of the
                  embedded Rego. When it cannot be reached, admission refuses and scaling/alert actions hold.

Each change is an event in the log (`cranectl get events`).";

const LOAD_EXAMPLES: &str = "\
Examples:
  cranectl load web --rate 50 --duration 60s
  cranectl load web --rate 10 --ramp-to 200 --duration 2m --path '/work?ms=20'   # CPU work: watch the autoscaler
  cranectl load web --rate 100 --duration 5m --detach   # return at once; the run goes on in the engine
  cranectl load web --stop                              # stop it and print its report

While it runs, a line like `12s/60s  198/200 req/s  p95 3.1 ms  0 errors` is printed every second (stderr); the
report (sent, ok, errors, achieved rate, latency p50/p95/p99, errors by kind) goes to stdout. Ctrl-C stops the run.
The app needs a port (`ports: [{container: 8080}]`): requests go to its load balancer.";

/// Arguments of `cranectl load`.
#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// App name.
    app: String,
    /// Requests per second (the start rate with --ramp-to).
    #[arg(long, value_name = "REQ/S", required_unless_present = "stop")]
    rate: Option<f64>,
    /// How long the run lasts: 30s, 2m, 1m30s (1s to 1h).
    #[arg(long, value_name = "DURATION", value_parser = load::parse_duration, required_unless_present = "stop")]
    duration: Option<std::time::Duration>,
    /// Ramp the rate linearly from --rate to this over the duration.
    #[arg(long, value_name = "REQ/S")]
    ramp_to: Option<f64>,
    /// Path requested (default /); `/work?ms=20` makes the demo app burn 20 ms of CPU per request.
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// Most requests in flight at once (default 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Option<u32>,
    /// Return right after starting; the run goes on in the engine (see `describe app`, stop it with --stop).
    #[arg(long)]
    detach: bool,
    /// Stop the app's load run and print its report.
    #[arg(long, conflicts_with_all = ["rate", "duration", "ramp_to", "path", "concurrency", "detach"])]
    stop: bool,
}

#[derive(Debug, Subcommand)]
enum AlertsWhat {
    /// List the alerting rules in force: group, alert, expression, for, actions, active alerts.
    #[command(after_help = "Examples:\n  cranectl alerts rules\n  cranectl alerts rules -o yaml")]
    Rules,
    /// Replace the alert rules with a rule file (Prometheus' format plus firing_action/resolved_action); an invalid
    /// file is refused with each problem's line and column, and nothing changes (admins).
    #[command(
        after_help = "Examples:\n  cranectl alerts apply -f rules.yml\n  cranectl alerts export | cranectl alerts apply -f -"
    )]
    Apply {
        /// Rule file (YAML); `-` reads standard input.
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: PathBuf,
    },
    /// Return to the rules Crane ships (admins).
    #[command(after_help = "Example:\n  cranectl alerts reset")]
    Reset,
    /// Print the rules in force as a Prometheus rule file (`promtool check rules` accepts it).
    #[command(
        after_help = "Examples:\n  cranectl alerts export > crane.rules.yml\n  promtool check rules crane.rules.yml"
    )]
    Export,
    /// List pending and firing alerts.
    #[command(after_help = "Examples:\n  cranectl alerts active\n  cranectl alerts active -o json")]
    Active,
    /// List the latest alert transitions, newest first.
    #[command(after_help = "Examples:\n  cranectl alerts history\n  cranectl alerts history --limit 200 -o json")]
    History {
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Print the Alertmanager webhook receiver's URL and its bearer token (admins); `--rotate` replaces the token.
    #[command(after_help = "Examples:\n  cranectl alerts webhook\n  cranectl alerts webhook --rotate\n\n\
                      Alertmanager's receiver:\n  webhook_configs:\n    - url: <URL>\n      http_config:\n        \
                      authorization: {credentials: <TOKEN>}")]
    Webhook {
        /// Replace the token first (the old one is refused at once).
        #[arg(long)]
        rotate: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SpecArgs {
    /// Spec file (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// All apps.
    Apps,
    /// One app.
    App {
        /// App name.
        name: String,
    },
    /// The instances of an app.
    Instances {
        /// App name.
        app: String,
    },
    /// Crane's own metrics in the Prometheus text format (what Prometheus scrapes from /metrics).
    Metrics,
    /// The event log, newest first.
    Events {
        /// Only events of this app.
        #[arg(long)]
        app: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum DescribeWhat {
    /// One app with its instances and last events.
    App {
        /// App name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum RolloutWhat {
    /// List the revisions of an app, oldest first; `*` marks the current one.
    #[command(after_help = "Examples:\n  cranectl rollout history web\n  cranectl rollout history web -o yaml")]
    History {
        /// App name.
        app: String,
    },
    /// Return an app to an earlier revision (the previous one unless --to is given) with a rolling update.
    #[command(after_help = "Examples:\n  cranectl rollout undo web\n  cranectl rollout undo web --to 2")]
    Undo {
        /// App name.
        app: String,
        /// Revision to return to (see `cranectl rollout history APP`).
        #[arg(long, value_name = "N")]
        to: Option<u32>,
    },
    /// Replace every instance of an app with a fresh one, one at a time (a new revision with the same spec).
    #[command(after_help = "Examples:\n  cranectl rollout restart web\n  cranectl rollout restart web && cranectl \
                      rollout status web --watch")]
    Restart {
        /// App name.
        app: String,
    },
    /// Show the app's rolling update; exits 1 when it failed (also when it was rolled back or paused).
    #[command(after_help = "Examples:\n  cranectl rollout status web\n  cranectl rollout status web --watch   \
                      # until it completes or fails")]
    Status {
        /// App name.
        app: String,
        /// Keep printing progress until the update completes or fails.
        #[arg(short, long)]
        watch: bool,
        /// With --watch: give up (exit 1) after this many seconds.
        #[arg(long, default_value_t = 600, value_name = "SECONDS", requires = "watch")]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
enum ExportWhat {
    /// An NGINX `upstream` of the app's ready instances and a `server` on 127.0.0.1:PORT that proxies to it.
    #[command(after_help = "Examples:\n  cranectl export nginx web\n  \
                      cranectl export nginx web --listen 8081 -f /etc/nginx/conf.d/web.conf\n\n\
                      The file lists the instances ready now; `cranectl nginx manage` keeps it current.")]
    Nginx {
        /// App name.
        app: String,
        /// Port the generated `server` listens on.
        #[arg(long, default_value_t = DEFAULT_NGINX_LISTEN, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        listen: u16,
        /// Write the config to this file instead of standard output.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenWhat {
    /// Make the running engine write a new token of its own; the current one stops working at once.
    #[command(after_help = "Example:\n  cranectl token rotate\n\n\
                      The new token is written to <data dir>/token (readable only by you) and is not printed; \
                      cranectl reads it from there. Scripts and Prometheus configs that hold the old token must be \
                      updated. Users' tokens are not affected.")]
    Rotate,
    /// Make a token for a user (yourself unless --user); it is printed once and never shown again.
    #[command(after_help = "Examples:\n  cranectl token create --role viewer\n  \
                      cranectl token create --role operator --user alice --label laptop\n\n\
                      The role may not exceed the user's. Use the token with `CRANE_TOKEN=<token> cranectl ...` or \
                      `Authorization: Bearer <token>`.")]
    Create {
        /// The role the token gives (at most the user's).
        #[arg(long, value_enum, value_name = "ROLE")]
        role: RoleArg,
        /// The user it acts for (default: you).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// What it is for, shown by `token ls`.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
    },
    /// List users' tokens (ids, users, roles, labels; never the tokens themselves).
    #[command(after_help = "Example:\n  cranectl token ls")]
    Ls,
    /// Revoke a token by its id (see `token ls`); it stops working at once.
    #[command(after_help = "Example:\n  cranectl token revoke 0123456789ab")]
    Revoke {
        /// Token id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserWhat {
    /// Add a user with a role; their first token is printed once.
    #[command(
        after_help = "Examples:\n  cranectl user add alice --role operator\n  cranectl user add tv --role viewer\n\n\
                      Roles: viewer (reads everything), operator (manages the apps they create), admin (everything: \
                      every app, users, tokens, settings, policies)."
    )]
    Add {
        /// User name: lowercase letters, digits and '-', starting with a letter.
        name: String,
        /// What the user may do.
        #[arg(long, value_enum, value_name = "ROLE")]
        role: RoleArg,
    },
    /// List users with their roles.
    #[command(after_help = "Example:\n  cranectl user ls")]
    Ls,
    /// Remove a user and revoke their tokens; their apps stay (admins manage them).
    #[command(after_help = "Example:\n  cranectl user rm alice")]
    Rm {
        /// User name.
        name: String,
    },
}

/// A role as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    /// Reads everything; changes nothing.
    Viewer,
    /// Manages the apps they create.
    Operator,
    /// Everything.
    Admin,
}

impl From<RoleArg> for crane_api::Role {
    fn from(role: RoleArg) -> crane_api::Role {
        match role {
            RoleArg::Viewer => crane_api::Role::Viewer,
            RoleArg::Operator => crane_api::Role::Operator,
            RoleArg::Admin => crane_api::Role::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
enum SettingsWhat {
    /// Change one setting: `allowUnsafe true|false`, `hostPathAllow PATH[,PATH…]`, `alertmanager_url URL`,
    /// `opa_url URL`, `opa_policies NAME[,NAME…]` ('' for none).
    #[command(after_help = "Examples:\n  cranectl settings set allowUnsafe true\n  \
                      cranectl settings set hostPathAllow /srv/data,/opt/x\n  cranectl settings set hostPathAllow ''")]
    Set {
        /// Which setting.
        key: SettingKey,
        /// The new value.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

/// The settings `cranectl settings set` changes, spelt as the documentation and the window spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SettingKey {
    /// Turn the safety floor off (true) or on (false).
    #[value(name = "allowUnsafe")]
    AllowUnsafe,
    /// The host directories specs may bind-mount, read-only.
    #[value(name = "hostPathAllow")]
    HostPathAllow,
    /// The Alertmanager Crane sends its alerts to.
    #[value(name = "alertmanager_url", alias = "alertmanagerUrl")]
    AlertmanagerUrl,
    /// The OPA server that decides the policies in opa_policies.
    #[value(name = "opa_url", alias = "opaUrl")]
    OpaUrl,
    /// The policies the OPA server decides.
    #[value(name = "opa_policies", alias = "opaPolicies")]
    OpaPolicies,
}

/// The change `cranectl settings set KEY VALUE` asks for; a value that does not fit the key is an error naming what
/// it takes.
fn settings_update(key: SettingKey, value: &str) -> Result<crane_api::SettingsUpdate> {
    let mut update = crane_api::SettingsUpdate::default();
    match key {
        SettingKey::AllowUnsafe => {
            update.allow_unsafe = Some(match value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(CliError::Serve(format!("allowUnsafe takes true or false; got '{value}'"))),
            });
        }
        SettingKey::HostPathAllow => {
            update.host_path_allow =
                Some(value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect());
        }
        SettingKey::AlertmanagerUrl => update.alertmanager_url = Some(value.trim().to_string()),
        SettingKey::OpaUrl => update.opa_url = Some(value.trim().to_string()),
        SettingKey::OpaPolicies => {
            let mut names = Vec::new();
            for name in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let policy = crane_engine::policies::parse_name(name)
                    .map_err(|e| CliError::Serve(format!("opa_policies: {e}")))?;
                names.push(policy);
            }
            update.opa_policies = Some(names);
        }
    }
    Ok(update)
}

#[derive(Debug, Subcommand)]
enum NginxWhat {
    /// Write the app's NGINX config now and after every change of its ready instances, reloading NGINX each time.
    #[command(
        after_help = "Example:\n  cranectl nginx manage web --config /etc/nginx/conf.d/web.conf --pid-file /run/nginx.pid \
                      --listen 8081\n\n\
                      The engine writes the file and signals NGINX (SIGHUP), so it needs the rights to do both. \
                      Relative paths are taken from the current directory."
    )]
    Manage {
        /// App name.
        app: String,
        /// Config file Crane writes (include it from nginx.conf, e.g. in conf.d/).
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// NGINX's pid file (Crane sends SIGHUP to that process after each rewrite).
        #[arg(long, value_name = "PATH")]
        pid_file: PathBuf,
        /// Port the generated `server` listens on.
        #[arg(long, default_value_t = DEFAULT_NGINX_LISTEN, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        listen: u16,
    },
    /// Stop rewriting the app's NGINX config (the file and NGINX are left as they are).
    #[command(after_help = "Example:\n  cranectl nginx unmanage web")]
    Unmanage {
        /// App name.
        app: String,
    },
}

/// Port of the generated NGINX `server` when none is given (the REST API's default too).
const DEFAULT_NGINX_LISTEN: u16 = crane_rest::routes::DEFAULT_NGINX_LISTEN;

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0, both inside clap.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            for line in err.report() {
                let _ = writeln!(stderr, "{line}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let data_dir = cli.data_dir.clone().unwrap_or_else(crane_engine::default_data_dir);
    let format = cli.output;
    let now = chrono::Utc::now();
    match cli.command {
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cranectl", &mut script);
            emit(&String::from_utf8_lossy(&script))
        }
        Command::Serve { listen, allow_remote } => serve::serve(data_dir, listen, allow_remote).await,
        Command::Apply(spec) => apply(&Client::discover(&data_dir).await?, &spec, false, format).await,
        Command::Create(spec) => apply(&Client::discover(&data_dir).await?, &spec, true, format).await,
        Command::Check(spec) => check(&Client::discover(&data_dir).await?, &spec, format).await,
        Command::Images => {
            let images = Client::discover(&data_dir).await?.images().await?;
            emit(&output::render(format, &images, || output::images_table(&images, now))?)
        }
        Command::Get { what } => {
            let client = Client::discover(&data_dir).await?;
            let text = match what {
                GetWhat::Apps => {
                    let apps = client.list_apps().await?;
                    output::render(format, &apps, || output::apps_table(&apps, now))?
                }
                GetWhat::App { name } => {
                    let app = client.get_app(&name).await?;
                    output::render(format, &app, || output::apps_table(std::slice::from_ref(&app), now))?
                }
                GetWhat::Instances { app } => {
                    let app = client.get_app(&app).await?;
                    output::render(format, &app.instances, || output::instances_table(&app.instances))?
                }
                GetWhat::Metrics => client.metrics().await?,
                GetWhat::Events { app, limit } => {
                    let events = client.events(app.as_deref(), limit).await?;
                    output::render(format, &events, || output::events_table(&events, now))?
                }
            };
            emit(&text)
        }
        Command::Describe { what: DescribeWhat::App { name } } => {
            let client = Client::discover(&data_dir).await?;
            let app = client.get_app(&name).await?;
            let events = client.events(Some(&name), 10).await?;
            let value = serde_json::json!({ "app": app, "events": events });
            emit(&output::render(format, &value, || output::describe_app(&app, &events, now))?)
        }
        Command::Scale { app, replicas } => {
            let view = Client::discover(&data_dir).await?.scale(&app, replicas).await?;
            emit(&output::render(format, &view, || format!("app/{} scaled to {replicas}\n", view.name))?)
        }
        Command::Delete { app } => {
            Client::discover(&data_dir).await?.delete(&app).await?;
            emit(&format!("app/{app} deleted\n"))
        }
        Command::Logs { app, follow, tail, no_prefix } => {
            logs(&Client::discover(&data_dir).await?, &app, follow, tail, !no_prefix).await
        }
        Command::Rollout { what } => rollout(&Client::discover(&data_dir).await?, what, format, now).await,
        Command::Export { what: ExportWhat::Nginx { app, listen, file } } => {
            let text = Client::discover(&data_dir).await?.export_nginx(&app, listen).await?;
            match file {
                None => emit(&text),
                Some(path) => {
                    std::fs::write(&path, &text)
                        .map_err(|e| CliError::Serve(format!("cannot write {}: {e}", path.display())))?;
                    emit(&format!("wrote the NGINX config of app/{app} to {}\n", path.display()))
                }
            }
        }
        Command::Nginx { what: NginxWhat::Manage { app, config, pid_file, listen } } => {
            // The engine may run in another directory: send absolute paths.
            let config = absolute(&config)?;
            let pid_file = absolute(&pid_file)?;
            let message = Client::discover(&data_dir).await?.manage_nginx(&app, &config, &pid_file, listen).await?;
            emit(&format!("{message}\n"))
        }
        Command::Nginx { what: NginxWhat::Unmanage { app } } => {
            let message = Client::discover(&data_dir).await?.unmanage_nginx(&app).await?;
            emit(&format!("{message}\n"))
        }
        Command::Load(args) => {
            let client = Client::discover(&data_dir).await?;
            match (args.stop, args.rate, args.duration) {
                (true, _, _) => load::stop(&client, &args.app, format).await,
                (false, Some(rate), Some(duration)) => {
                    let request = crane_api::LoadRequest {
                        rate,
                        duration_s: duration.as_secs_f64(),
                        ramp_to: args.ramp_to,
                        concurrency: args.concurrency,
                        path: args.path,
                    };
                    load::start(&client, &args.app, &request, args.detach, format).await
                }
                // clap requires both unless --stop.
                _ => Err(CliError::Serve("give --rate and --duration, or --stop".into())),
            }
        }
        Command::Chart { app, metric, range, file } => {
            let svg = Client::discover(&data_dir).await?.chart(&app, &metric, &range).await?;
            match file {
                None => emit(&svg),
                Some(path) => {
                    std::fs::write(&path, &svg)
                        .map_err(|e| CliError::Serve(format!("cannot write {}: {e}", path.display())))?;
                    emit(&format!("wrote the {metric} chart of app/{app} ({range}) to {}\n", path.display()))
                }
            }
        }
        Command::Requests { app, count, path } => {
            let sent = Client::discover(&data_dir).await?.send_requests(&app, count, &path).await?;
            emit(&output::render(format, &sent, || output::requests_text(&sent))?)
        }
        Command::DemoImage { vulnerable: false } => demo_image(&Client::discover(&data_dir).await?, format).await,
        Command::DemoImage { vulnerable: true } => {
            let image = Client::discover(&data_dir).await?.build_vulnerable_demo_image().await?;
            emit(&output::render(format, &serde_json::json!({ "image": image }), || {
                format!("image {image} is ready\n")
            })?)
        }
        Command::Scan(args) => scan::run(&Client::discover(&data_dir).await?, &data_dir, args, format).await,
        Command::Status => {
            let status = Client::discover(&data_dir).await?.status().await?;
            emit(&output::render(format, &status, || output::status_text(&status))?)
        }
        Command::Policy { what } => policy::run(&Client::discover(&data_dir).await?, what, format).await,
        Command::Lab { what } => lab::run(&Client::discover(&data_dir).await?, what, format).await,
        Command::Experiment { what } => experiment::run(&Client::discover(&data_dir).await?, what, format).await,
        Command::Settings { what } => {
            let client = Client::discover(&data_dir).await?;
            let settings = match what {
                None => client.settings().await?,
                Some(SettingsWhat::Set { key, value }) => client.set_settings(&settings_update(key, &value)?).await?,
            };
            emit(&output::render(format, &settings, || output::settings_text(&settings))?)
        }
        Command::Token { what } => token(&Client::discover(&data_dir).await?, what, format, now).await,
        Command::User { what } => user(&Client::discover(&data_dir).await?, what, format, now).await,
        Command::Alerts { what } => alerts(&Client::discover(&data_dir).await?, what, format, now).await,
        Command::Audit { user, app, limit } => {
            let rows = Client::discover(&data_dir).await?.audit(user.as_deref(), app.as_deref(), limit).await?;
            emit(&output::render(format, &rows, || output::audit_table(&rows, now))?)
        }
    }
}

async fn alerts(client: &Client, what: AlertsWhat, format: Format, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    match what {
        AlertsWhat::Rules => {
            let rules = client.alert_rules().await?;
            emit(&output::render(format, &rules, || output::alert_rules_table(&rules))?)
        }
        AlertsWhat::Apply { file } => {
            let (name, yaml) = read_spec(&file)?;
            let rules = client.set_alert_rules(yaml).await.map_err(|err| match err {
                CliError::Api { error, .. } => {
                    CliError::Api { error, source_name: Some(name.clone()), document: "rule file" }
                }
                other => other,
            })?;
            emit(&output::render(format, &rules, || {
                format!("alert rules configured: {}\n", output::count(rules.rules.len(), "rule"))
            })?)
        }
        AlertsWhat::Reset => {
            let rules = client.reset_alert_rules().await?;
            emit(&output::render(format, &rules, || {
                format!("alert rules reset to Crane's shipped rules: {}\n", output::count(rules.rules.len(), "rule"))
            })?)
        }
        AlertsWhat::Export => emit(&client.export_alert_rules().await?),
        AlertsWhat::Active => {
            let alerts = client.active_alerts().await?;
            emit(&output::render(format, &alerts, || output::alerts_table(&alerts, now))?)
        }
        AlertsWhat::History { limit } => {
            let history = client.alert_history(limit).await?;
            emit(&output::render(format, &history, || output::alert_history_table(&history, now))?)
        }
        AlertsWhat::Webhook { rotate } => {
            let info = client.webhook(rotate).await?;
            emit(&output::render(format, &info, || {
                format!(
                    "url:        {}\ntoken:      {}\ntoken file: {}\n{}",
                    info.url,
                    info.token,
                    info.token_file,
                    if rotate { "the token was replaced: give Alertmanager the new one\n" } else { "" }
                )
            })?)
        }
    }
}

async fn token(client: &Client, what: TokenWhat, format: Format, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    match what {
        TokenWhat::Rotate => {
            let (file, _) = client.rotate_token().await?;
            emit(&format!("token rotated: the old token no longer works; the new one is in {file}\n"))
        }
        TokenWhat::Create { role, user, label } => {
            let issued = client.create_token(role.into(), user, label).await?;
            emit(&output::render(format, &issued, || output::issued_token_text(&issued))?)
        }
        TokenWhat::Ls => {
            let tokens = client.list_tokens().await?;
            emit(&output::render(format, &tokens, || output::tokens_table(&tokens, now))?)
        }
        TokenWhat::Revoke { id } => {
            client.revoke_token(&id).await?;
            emit(&format!("token/{id} revoked: it no longer works\n"))
        }
    }
}

async fn user(client: &Client, what: UserWhat, format: Format, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    match what {
        UserWhat::Add { name, role } => {
            let created = client.create_user(&name, role.into()).await?;
            emit(&output::render(format, &created, || {
                format!(
                    "user/{} added with role {}\n{}",
                    created.user.name,
                    output::role_word(created.user.role),
                    output::issued_token_text(&created.token)
                )
            })?)
        }
        UserWhat::Ls => {
            let users = client.list_users().await?;
            emit(&output::render(format, &users, || output::users_table(&users, now))?)
        }
        UserWhat::Rm { name } => {
            client.remove_user(&name).await?;
            emit(&format!("user/{name} removed: their tokens no longer work; their apps stay (admins manage them)\n"))
        }
    }
}

/// Writes to stdout; a closed pipe ends the command quietly instead of panicking like `print!`.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::OutputClosed),
        Err(err) => Err(CliError::Serve(format!("cannot write to standard output: {err}"))),
    }
}

/// A path as an absolute UTF-8 string (the REST API takes JSON strings).
fn absolute(path: &std::path::Path) -> Result<String> {
    let abs = std::path::absolute(path)
        .map_err(|e| CliError::Serve(format!("cannot resolve the path {}: {e}", path.display())))?;
    abs.to_str()
        .map(str::to_string)
        .ok_or_else(|| CliError::Serve(format!("the path {} is not valid UTF-8; choose another", abs.display())))
}

async fn rollout(client: &Client, what: RolloutWhat, format: Format, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    match what {
        RolloutWhat::History { app } => {
            let revisions = client.rollout_history(&app).await?;
            emit(&output::render(format, &revisions, || output::history_table(&revisions, now))?)
        }
        RolloutWhat::Undo { app, to } => {
            let view = client.rollout_undo(&app, to).await?;
            emit(&output::render(format, &view, || {
                format!("app/{} rolled back to revision {}\n", view.name, view.revision)
            })?)
        }
        RolloutWhat::Restart { app } => {
            let view = client.rollout_restart(&app).await?;
            emit(&output::render(format, &view, || {
                format!("app/{} restarting: revision {} replaces every instance\n", view.name, view.revision)
            })?)
        }
        RolloutWhat::Status { app, watch, timeout } => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
            let mut view = client.get_app(&app).await?;
            let mut last = String::new();
            loop {
                let text = output::render(format, &view.rollout, || output::rollout_text(&view))?;
                if text != last {
                    emit(&text)?;
                    last = text;
                }
                let progressing =
                    view.rollout.as_ref().is_some_and(|r| r.state == crane_api::RolloutState::Progressing);
                if !watch || !progressing {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(CliError::Serve(format!(
                        "the rolling update of app '{app}' is still in progress after {timeout}s; see `cranectl \
                         describe app {app}`"
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                view = client.get_app(&app).await?;
            }
            match &view.rollout {
                Some(r) if output::rollout_failed(r) => {
                    let state = match r.state.as_str() {
                        "rolled_back" => "failed and was rolled back",
                        "paused" => "failed and is paused",
                        _ => "failed",
                    };
                    Err(CliError::RolloutFailed { app: view.name.clone(), state: state.to_string() })
                }
                _ => Ok(()),
            }
        }
    }
}

async fn apply(client: &Client, spec: &SpecArgs, create_only: bool, format: Format) -> Result<()> {
    let (name, yaml) = read_spec(&spec.file)?;
    if crane_core::validate::split_documents(&yaml).len() > 1 {
        return apply_all(client, &name, yaml, create_only, format).await;
    }
    if yaml.len() > crane_core::validate::MAX_SPEC_BYTES {
        return Err(CliError::SpecTooLarge { name, max: crane_core::validate::MAX_SPEC_BYTES });
    }
    let result = client.apply(yaml, create_only).await.map_err(|err| match err {
        CliError::Api { error, .. } => CliError::Api { error, source_name: Some(name.clone()), document: "spec" },
        other => other,
    })?;
    let mut stderr = std::io::stderr().lock();
    for warning in &result.warnings {
        let _ = writeln!(stderr, "Warning: {warning}");
    }
    for warning in &result.policy_warnings {
        let _ = writeln!(stderr, "Policy warning: {warning}");
    }
    drop(stderr);
    let verb = match result.action {
        crane_api::ApplyAction::Created => "created",
        crane_api::ApplyAction::Unchanged => "unchanged",
        crane_api::ApplyAction::Updated | crane_api::ApplyAction::Scaled => "configured",
    };
    emit(&output::render(format, &result, || format!("app/{} {verb}\n", result.app.name))?)
}

/// Checks a spec or a file of specs without applying it; prints the report (or its JSON/YAML) and fails when an
/// apply would be refused.
async fn check(client: &Client, spec: &SpecArgs, format: Format) -> Result<()> {
    let (name, yaml) = read_spec(&spec.file)?;
    let view = client.check(yaml).await?;
    emit(&output::render(format, &view, || output::check_text(&view, &name))?)?;
    match output::check_failure(&view) {
        Some(reason) => Err(CliError::CheckFailed { name, reason }),
        None => Ok(()),
    }
}

/// Applies a `---` separated file of apps in one go: every document is validated by the engine first, and nothing
/// is created when one is invalid (each problem names its document and the line of the file).
async fn apply_all(client: &Client, name: &str, yaml: String, create_only: bool, format: Format) -> Result<()> {
    let all = client.apply_all(yaml, create_only).await.map_err(|err| match err {
        CliError::Api { error, .. } => CliError::Api { error, source_name: Some(name.to_string()), document: "file" },
        other => other,
    })?;
    let mut stderr = std::io::stderr().lock();
    for result in &all.results {
        for warning in &result.warnings {
            let _ = writeln!(stderr, "Warning: app/{}: {warning}", result.app.name);
        }
        for warning in &result.policy_warnings {
            let _ = writeln!(stderr, "Policy warning: app/{}: {warning}", result.app.name);
        }
    }
    drop(stderr);
    emit(&output::render(format, &all, || {
        all.results
            .iter()
            .map(|r| {
                let verb = match r.action {
                    crane_api::ApplyAction::Created => "created",
                    crane_api::ApplyAction::Unchanged => "unchanged",
                    crane_api::ApplyAction::Updated | crane_api::ApplyAction::Scaled => "configured",
                };
                format!("app/{} {verb}\n", r.app.name)
            })
            .collect()
    })?)
}

/// The spec text and the name diagnostics should use for it. A file above the engine's cap for a file of apps is
/// refused here, naming the file and the cap, and never sent; at most one byte more than the cap is read. (A single
/// spec's own cap is checked by `apply` once the file is known to hold one document.)
fn read_spec(file: &PathBuf) -> Result<(String, String)> {
    if file.as_os_str() == "-" {
        let name = "<stdin>".to_string();
        let yaml = read_bounded(std::io::stdin(), &name)?;
        return Ok((name, yaml));
    }
    let name = file.display().to_string();
    let opened = std::fs::File::open(file).map_err(|source| CliError::Input { name: name.clone(), source })?;
    let yaml = read_bounded(opened, &name)?;
    Ok((name, yaml))
}

/// Reads a spec file of at most [`crane_core::validate::documents::MAX_FILE_BYTES`] from `input`.
fn read_bounded(input: impl Read, name: &str) -> Result<String> {
    let max = crane_core::validate::documents::MAX_FILE_BYTES;
    let mut bytes = Vec::new();
    input
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| CliError::Input { name: name.to_string(), source })?;
    if bytes.len() > max {
        return Err(CliError::SpecTooLarge { name: name.to_string(), max });
    }
    String::from_utf8(bytes).map_err(|e| CliError::Input {
        name: name.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

async fn logs(client: &Client, app: &str, follow: bool, tail: Option<u32>, prefix: bool) -> Result<()> {
    let response = client.logs(app, follow, tail).await?;
    let mut body = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let print = |raw: &[u8]| -> Result<()> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match serde_json::from_slice::<LogLineView>(raw) {
            Ok(line) if prefix => emit(&format!("{} | {}\n", line.instance, line.line.trim_end_matches('\n'))),
            Ok(line) => emit(&format!("{}\n", line.line.trim_end_matches('\n'))),
            // Not ours to judge: show what came.
            Err(_) => emit(&format!("{}\n", String::from_utf8_lossy(raw))),
        }
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| client.stream_error(e))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            print(&line[..end])?;
        }
    }
    print(&pending)
}

async fn demo_image(client: &Client, format: Format) -> Result<()> {
    // Subscribe first: once /watch has answered, no progress sent after that is missed.
    let watch = client.watch().await?;
    let progress = tokio::spawn(print_progress(watch));
    let built = client.build_demo_image().await;
    // The last progress messages may arrive just after the answer; give them a moment.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), progress).await;
    let image = built?;
    emit(&output::render(format, &serde_json::json!({ "image": image }), || format!("image {image} is ready\n"))?)
}

/// Prints `demo-image` progress from a `/watch` stream on stderr until the operation is done.
async fn print_progress(watch: reqwest::Response) {
    let mut body = watch.bytes_stream();
    let mut pending = String::new();
    while let Some(Ok(chunk)) = body.next().await {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
            let Ok(ChangeView::Progress { progress }) = serde_json::from_str::<ChangeView>(data.trim()) else {
                continue;
            };
            if progress.operation != "demo-image" {
                continue;
            }
            let percent = progress.fraction.map(|f| format!("[{:>3.0}%] ", f * 100.0)).unwrap_or_default();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{percent}{}", progress.message.trim_end());
            if let Some(error) = &progress.error {
                let _ = writeln!(stderr, "error: {error}");
            }
            if progress.done {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec above the cap is refused before it is sent, naming the file and the cap; one at the cap is read.
    #[test]
    fn oversized_specs_are_not_sent() {
        let max = crane_core::validate::documents::MAX_FILE_BYTES;
        let err = read_bounded(std::io::Cursor::new(vec![b'a'; max + 1]), "big.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "big.yaml is larger than 1048576 bytes, the most the engine accepts (one spec: 256 KiB; a file of `---` \
             separated apps: 1 MiB); it was not sent"
        );
        // An endless input is read only up to the cap.
        let err = read_bounded(std::io::repeat(b'a'), "<stdin>").unwrap_err();
        assert!(matches!(err, CliError::SpecTooLarge { .. }), "{err}");
        assert_eq!(read_bounded(std::io::Cursor::new(vec![b'a'; max]), "ok.yaml").unwrap().len(), max);
        let missing = read_spec(&PathBuf::from("/nonexistent/spec.yaml")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read /nonexistent/spec.yaml"), "{missing}");
    }

    #[test]
    fn parses_requests_with_its_bounds() {
        let cli = Cli::try_parse_from(["cranectl", "requests", "web"]).unwrap();
        assert!(matches!(cli.command, Command::Requests { count: 10, ref path, .. } if path == "/"));
        let cli = Cli::try_parse_from(["cranectl", "requests", "web", "-n", "50", "--path", "/work?ms=5"]).unwrap();
        assert!(matches!(cli.command, Command::Requests { count: 50, ref path, .. } if path == "/work?ms=5"));
        for bad in ["0", "51"] {
            assert!(Cli::try_parse_from(["cranectl", "requests", "web", "-n", bad]).is_err(), "-n {bad} accepted");
        }
    }

    #[test]
    fn parses_load_and_chart() {
        let cli = Cli::try_parse_from([
            "cranectl",
            "load",
            "web",
            "--rate",
            "50",
            "--duration",
            "1m30s",
            "--ramp-to",
            "200",
            "--path",
            "/work?ms=20",
            "--concurrency",
            "8",
        ])
        .unwrap();
        let Command::Load(args) = cli.command else { panic!("not load") };
        assert_eq!((args.rate, args.ramp_to, args.concurrency), (Some(50.0), Some(200.0), Some(8)));
        assert_eq!(args.duration, Some(std::time::Duration::from_secs(90)));
        assert_eq!(args.path.as_deref(), Some("/work?ms=20"));
        assert!(!args.stop && !args.detach);
        let cli = Cli::try_parse_from(["cranectl", "load", "web", "--stop"]).unwrap();
        assert!(matches!(cli.command, Command::Load(LoadArgs { stop: true, rate: None, .. })));
        // --rate and --duration are needed to start, and make no sense with --stop.
        assert!(Cli::try_parse_from(["cranectl", "load", "web", "--rate", "5"]).is_err());
        assert!(Cli::try_parse_from(["cranectl", "load", "web", "--duration", "5s"]).is_err());
        assert!(Cli::try_parse_from(["cranectl", "load", "web", "--stop", "--rate", "5"]).is_err());
        assert!(Cli::try_parse_from(["cranectl", "load", "web", "--rate", "5", "--duration", "60"]).is_err());
        assert!(Cli::try_parse_from([
            "cranectl",
            "load",
            "web",
            "--rate",
            "5",
            "--duration",
            "5s",
            "--concurrency",
            "0"
        ])
        .is_err());

        let cli = Cli::try_parse_from(["cranectl", "chart", "web", "rps"]).unwrap();
        assert!(matches!(cli.command, Command::Chart { ref range, file: None, .. } if range == "5m"));
        let cli = Cli::try_parse_from(["cranectl", "chart", "web", "cpu", "--range", "1h", "-f", "c.svg"]).unwrap();
        assert!(matches!(cli.command, Command::Chart { ref range, file: Some(_), .. } if range == "1h"));
        assert!(Cli::try_parse_from(["cranectl", "chart", "web", "disk"]).is_err());
        let cli = Cli::try_parse_from(["cranectl", "get", "metrics"]).unwrap();
        assert!(matches!(cli.command, Command::Get { what: GetWhat::Metrics }));
    }

    #[test]
    fn parses_settings() {
        let cli = Cli::try_parse_from(["cranectl", "settings"]).unwrap();
        assert!(matches!(cli.command, Command::Settings { what: None }));
        let cli = Cli::try_parse_from(["cranectl", "settings", "set", "hostPathAllow", "/srv/data, /opt/x,"]).unwrap();
        let Command::Settings { what: Some(SettingsWhat::Set { key, value }) } = cli.command else { panic!() };
        let update = settings_update(key, &value).unwrap();
        assert_eq!(update.host_path_allow.unwrap(), ["/srv/data", "/opt/x"]);
        assert_eq!(update.allow_unsafe, None);
        assert_eq!(settings_update(SettingKey::HostPathAllow, "").unwrap().host_path_allow, Some(vec![]));
        assert_eq!(settings_update(SettingKey::AllowUnsafe, "TRUE").unwrap().allow_unsafe, Some(true));
        let err = settings_update(SettingKey::AllowUnsafe, "yes").unwrap_err();
        assert_eq!(err.to_string(), "allowUnsafe takes true or false; got 'yes'");
        // An unknown key is a usage error naming the known ones.
        let err = Cli::try_parse_from(["cranectl", "settings", "set", "allow_unsafe", "true"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("allowUnsafe") && text.contains("hostPathAllow"), "{text}");
        let update = settings_update(SettingKey::OpaPolicies, "admission, alerts").unwrap();
        assert_eq!(update.opa_policies.unwrap(), [crane_api::PolicyName::Admission, crane_api::PolicyName::Alerts]);
        assert_eq!(settings_update(SettingKey::OpaPolicies, "").unwrap().opa_policies, Some(vec![]));
        let err = settings_update(SettingKey::OpaPolicies, "admision").unwrap_err().to_string();
        assert!(err.contains("no policy named 'admision'") && err.contains("admission, scaling, alerts"), "{err}");
        assert_eq!(
            settings_update(SettingKey::AlertmanagerUrl, " http://127.0.0.1:9093 ").unwrap().alertmanager_url,
            Some("http://127.0.0.1:9093".to_string())
        );
        let cli = Cli::try_parse_from(["cranectl", "settings", "set", "alertmanagerUrl", ""]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Settings { what: Some(SettingsWhat::Set { key: SettingKey::AlertmanagerUrl, .. }) }
        ));
    }

    #[test]
    fn parses_policy_commands() {
        for args in [
            &["policy", "list"][..],
            &["policy", "get", "admission"],
            &["policy", "get", "scaling", "--data"],
            &["policy", "set", "admission", "-f", "a.rego"],
            &["policy", "set", "scaling", "--data", "s.json"],
            &["policy", "validate", "admission", "-f", "a.rego"],
            &["policy", "reset", "admission"],
            &["policy", "eval", "admission", "-f", "input.json"],
            &["policy", "eval", "alerts"],
            &["policy", "test"],
        ] {
            let cli = Cli::try_parse_from([&["cranectl"][..], args].concat());
            assert!(matches!(cli, Ok(Cli { command: Command::Policy { .. }, .. })), "{args:?}: {cli:?}");
        }
        assert!(Cli::try_parse_from(["cranectl", "policy", "set", "admission"]).is_err(), "-f or --data is needed");
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_check_and_images() {
        let cli = Cli::try_parse_from(["cranectl", "check", "-f", "apps.yaml", "-o", "json"]).unwrap();
        assert!(matches!(cli.command, Command::Check(SpecArgs { ref file }) if file == &PathBuf::from("apps.yaml")));
        assert_eq!(cli.output, Format::Json);
        assert!(Cli::try_parse_from(["cranectl", "check"]).is_err(), "-f is needed");
        let cli = Cli::try_parse_from(["cranectl", "images"]).unwrap();
        assert!(matches!(cli.command, Command::Images));
    }

    #[test]
    fn parses_kubectl_style() {
        let cli = Cli::try_parse_from(["cranectl", "get", "apps", "-o", "json"]).unwrap();
        assert_eq!(cli.output, Format::Json);
        assert!(matches!(cli.command, Command::Get { what: GetWhat::Apps }));
        let cli = Cli::try_parse_from(["cranectl", "logs", "web", "-f", "--tail", "5"]).unwrap();
        assert!(matches!(cli.command, Command::Logs { follow: true, tail: Some(5), .. }));
        assert!(Cli::try_parse_from(["cranectl", "scale", "web", "many"]).is_err());
    }

    #[test]
    fn parses_rollout_export_and_nginx() {
        let cli = Cli::try_parse_from(["cranectl", "rollout", "undo", "web", "--to", "2"]).unwrap();
        assert!(matches!(cli.command, Command::Rollout { what: RolloutWhat::Undo { to: Some(2), .. } }));
        let cli = Cli::try_parse_from(["cranectl", "rollout", "restart", "web"]).unwrap();
        assert!(matches!(cli.command, Command::Rollout { what: RolloutWhat::Restart { ref app } } if app == "web"));
        let cli = Cli::try_parse_from(["cranectl", "rollout", "history", "web", "-o", "yaml"]).unwrap();
        assert_eq!(cli.output, Format::Yaml);
        let cli = Cli::try_parse_from(["cranectl", "export", "nginx", "web"]).unwrap();
        assert!(matches!(cli.command, Command::Export { what: ExportWhat::Nginx { listen: 8080, file: None, .. } }));
        assert!(Cli::try_parse_from(["cranectl", "export", "nginx", "web", "--listen", "0"]).is_err());
        assert!(Cli::try_parse_from(["cranectl", "nginx", "manage", "web", "--config", "a.conf"]).is_err());
        let cli = Cli::try_parse_from([
            "cranectl",
            "nginx",
            "manage",
            "web",
            "--config",
            "a.conf",
            "--pid-file",
            "/run/nginx.pid",
            "--listen",
            "81",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Nginx { what: NginxWhat::Manage { listen: 81, .. } }));
    }
}
