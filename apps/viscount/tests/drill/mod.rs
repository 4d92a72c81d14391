//! What a fault drill runs on and breaks: its own PostgreSQL server and NATS server
//! (stopped and restarted by the drill, so no other test shares them), TCP proxies that
//! cut one service off from one of them, and `viscount up --distributed` itself, whose
//! children are found by the pids it logs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use crate::support::running::free_port;

fn wait_for_port(port: u16, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A PostgreSQL server of the drill's own, in a temporary directory.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    /// `initdb` and start one; `None` when the server binaries are not installed.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()?;
        let dir = tempfile::tempdir().expect("temp dir");
        // PostgreSQL refuses to run as root: the server runs as `postgres` then.
        let as_postgres = run(Command::new("id").arg("-u")).trim() == "0";
        if as_postgres {
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path()));
        }
        let server = Self {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        run(server
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(server.data()));
        server.up();
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Its base URL (no database).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-D")
            .arg(self.data())
            .arg("start"));
        assert!(wait_for_port(self.port, Duration::from_secs(30)));
    }

    /// Stops it the way a crash does: no checkpoint, every session cut.
    pub fn stop_immediately(&self) {
        run(self
            .command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop"));
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}

/// A NATS server of the drill's own, with JetStream and `sync_interval: always`.
pub struct OwnNats {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

impl OwnNats {
    /// Starts one; `None` without a `nats-server` 2.10+ binary (`VISCOUNT_TEST_NATS_BIN`,
    /// else the one `scripts/test` keeps in `.tools/`).
    pub fn start() -> Option<Self> {
        let bin = std::env::var("VISCOUNT_TEST_NATS_BIN")
            .map(PathBuf::from)
            .ok()
            .or_else(|| {
                let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin");
                Some(tools.join("nats-server"))
            })
            .filter(|bin| bin.exists())?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        std::fs::write(
            dir.path().join("nats.conf"),
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
                dir.path().join("js").display()
            ),
        )
        .expect("nats config");
        let mut nats = Self {
            dir,
            bin,
            port,
            child: None,
        };
        nats.up();
        Some(nats)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same store and waits for its port.
    pub fn up(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("nats.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        assert!(wait_for_port(self.port, Duration::from_secs(30)));
    }

    /// Kills it (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy in front of one server: while partitioned, every connection through it
/// is cut and new ones hang unanswered, as across a broken network.
#[derive(Clone)]
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    partitioned: watch::Sender<bool>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:`port` (a free one) to 127.0.0.1:`target`.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let port = listener.local_addr().expect("address").port();
        let (partitioned, watcher) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(forward(inbound, target, watcher.clone()));
            }
        });
        Self { port, partitioned }
    }

    /// Cuts the link.
    pub fn partition(&self) {
        self.partitioned.send_replace(true);
    }

    /// Restores it.
    pub fn heal(&self) {
        self.partitioned.send_replace(false);
    }
}

async fn forward(mut inbound: TcpStream, target: u16, mut partitioned: watch::Receiver<bool>) {
    // A connection made during the partition hangs until it ends, then is dropped.
    if *partitioned.borrow() {
        let _ = partitioned.wait_for(|cut| !*cut).await;
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = partitioned.wait_for(|cut| *cut) => {}
    }
}

/// `viscount up --distributed`, with the pids of its children as it logs them.
pub struct Supervisor {
    child: Child,
    pids: Arc<Mutex<HashMap<String, u32>>>,
    log: Arc<Mutex<Vec<String>>>,
    /// The gateway's base URL.
    pub gateway: String,
}

impl Supervisor {
    /// Starts it with `args` after `up --distributed` and waits until it says the
    /// platform is up.
    pub fn start(args: &[String], env: &[(&str, &str)], workdir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_viscount"));
        // Only what the drill sets: the test runner's own `VISCOUNT_*` are not config.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("VISCOUNT_") {
                command.env_remove(name);
            }
        }
        command
            .args(["up", "--distributed"])
            .args(args)
            .current_dir(workdir)
            .env("VISCOUNT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("viscount up --distributed starts");
        let pids = Arc::new(Mutex::new(HashMap::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        {
            let (pids, log) = (pids.clone(), log.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(entry) = serde_json::from_str::<Value>(&line)
                        && entry["message"] == "process started"
                        && let (Some(instance), Some(pid)) =
                            (entry["instance"].as_str(), entry["pid"].as_u64())
                        && let Ok(mut pids) = pids.lock()
                    {
                        pids.insert(instance.to_owned(), pid as u32);
                    }
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let (up_tx, up_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("viscount is up: gateway at ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = up_tx.send(url);
                }
            }
        });
        let mut supervisor = Self {
            child,
            pids,
            log,
            gateway: String::new(),
        };
        match up_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => supervisor.gateway = url,
            Err(_) => {
                let tail = supervisor.log_tail(60);
                panic!("the platform did not come up:\n{tail}");
            }
        }
        supervisor
    }

    /// The pid of `instance` (`ordering.1`) now.
    pub fn pid(&self, instance: &str) -> u32 {
        *self
            .pids
            .lock()
            .expect("pids")
            .get(instance)
            .unwrap_or_else(|| panic!("no process {instance} was started"))
    }

    /// Every instance it started.
    pub fn instances(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pids.lock().expect("pids").keys().cloned().collect();
        names.sort();
        names
    }

    /// Kills `instance` with SIGKILL; returns the pid killed.
    pub fn kill(&self, instance: &str) -> u32 {
        let pid = self.pid(instance);
        run(Command::new("kill").args(["-KILL", &pid.to_string()]));
        pid
    }

    /// Waits until `instance` runs under a pid other than `old`.
    pub fn wait_restarted(&self, instance: &str, old: u32, deadline: Duration) {
        let until = Instant::now() + deadline;
        while self.pid(instance) == old {
            assert!(
                Instant::now() < until,
                "{instance} was not restarted:\n{}",
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lines it (and its children) logged, the last `count`.
    pub fn log_tail(&self, count: usize) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log[log.len().saturating_sub(count)..].join("\n")
    }

    /// Log lines matching `needle`.
    pub fn log_matching(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|line| line.contains(needle))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pid each instance was last started under.
    pub fn last_pids(&self) -> Vec<u32> {
        self.pids.lock().expect("pids").values().copied().collect()
    }

    /// Stops it as Ctrl-C does and waits; returns whether it exited cleanly.
    pub fn interrupt(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(90);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // The whole log, for a drill that failed: VISCOUNT_DRILL_LOG=path.
        if let Ok(path) = std::env::var("VISCOUNT_DRILL_LOG") {
            let log = self.log.lock().map(|l| l.join("\n")).unwrap_or_default();
            let _ = std::fs::write(path, log);
        }
        // Its children stop when their stdin closes, which its death does.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
