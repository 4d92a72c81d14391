//! A `viscount` process started by a test, its JSON log read as it runs, killed when
//! the test drops it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Instant;

/// How long a process gets to log what a test waits for (argon2 and migrations in a
/// debug build).
pub const STARTUP: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1 (released at once; taken by whoever binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `viscount` run in `cwd` (no stray `viscount.toml`) without inherited `VISCOUNT_*`
/// variables (no stray gateway URL or credentials), with info logs.
pub fn viscount(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_viscount"));
    command.current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VISCOUNT_") {
            command.env_remove(name);
        }
    }
    command.env("VISCOUNT_LOG", "info");
    command
}

/// A running `viscount` process, killed when dropped.
pub struct Running {
    child: Child,
    lines: UnboundedReceiver<String>,
    /// Every stderr line read so far.
    pub log: Vec<String>,
}

impl Running {
    /// Starts `command`, reading its stderr (JSON log lines) on a thread.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("viscount starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Reads log lines until one whose `message` is `message`, and returns it parsed;
    /// panics with the log when the process exits or [`STARTUP`] passes first.
    pub async fn wait_for(&mut self, message: &str) -> Value {
        let deadline = Instant::now() + STARTUP;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    let status = self.child.wait().expect("exit status");
                    panic!(
                        "viscount exited ({status}) before logging {message:?}:\n{}",
                        self.log.join("\n")
                    );
                }
                Err(_) => panic!(
                    "viscount did not log {message:?} within {STARTUP:?}:\n{}",
                    self.log.join("\n")
                ),
            };
            self.log.push(line.clone());
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == message
            {
                return event;
            }
        }
    }

    /// Waits for `message` and returns its `url` field.
    pub async fn url_of(&mut self, message: &str) -> String {
        let event = self.wait_for(message).await;
        event["url"]
            .as_str()
            .unwrap_or_else(|| panic!("{message:?} has a url: {event}"))
            .to_owned()
    }

    /// Whether a line read so far has `message`.
    pub fn logged(&self, message: &str) -> bool {
        self.log.iter().any(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|event| event["message"] == message)
        })
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
