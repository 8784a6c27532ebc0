//! `.tf/ralph/config.json`: the loop's settings, their defaults and the
//! command-line overrides.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The default `parallelWorktreesDir`, relative to the project directory.
pub const DEFAULT_WORKTREES_DIR: &str = ".tf/ralph/worktrees";

/// Settings read from `config.json`. Every key is optional there, and keys
/// this version does not know are kept (and written back) as they were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// Maximum number of sessions one run starts.
    pub max_iterations: u32,
    /// Maximum number of sessions in flight at once.
    pub parallel: u32,
    /// Time an agent session may run before it is stopped, in milliseconds.
    pub attempt_timeout_ms: u64,
    /// Time between SIGTERM and SIGKILL when a session is stopped, in
    /// milliseconds.
    pub grace_period_ms: u64,
    /// Interval at which `run` refreshes the lock heartbeat, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Heartbeat silence after which a live lock owner is reported silent,
    /// in milliseconds.
    pub silence_threshold_ms: u64,
    /// The agent's argv; `{ticket}` in any element is replaced by the id.
    pub agent_command: Vec<String>,
    /// Whether a ticket without `component:` tags may run beside others.
    /// When false, such a ticket runs only while nothing else does.
    pub parallel_allow_untagged: bool,
    /// Whether a serial run gives each session a worktree, as parallel runs
    /// always do.
    pub serial_use_worktree: bool,
    /// Directory of the per-ticket worktrees, relative to the project
    /// directory unless absolute.
    pub parallel_worktrees_dir: PathBuf,
    /// Keys this version does not use.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_iterations: 50,
            parallel: 1,
            attempt_timeout_ms: 600_000,
            grace_period_ms: 10_000,
            heartbeat_interval_ms: 5_000,
            silence_threshold_ms: 60_000,
            agent_command: ["pi", "-p", "/tf {ticket} --auto"]
                .map(String::from)
                .to_vec(),
            parallel_allow_untagged: false,
            serial_use_worktree: false,
            parallel_worktrees_dir: PathBuf::from(DEFAULT_WORKTREES_DIR),
            unknown: Map::new(),
        }
    }
}

/// Command-line values that take precedence over `config.json`.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub max_iterations: Option<u32>,
    pub parallel: Option<u32>,
    pub attempt_timeout_ms: Option<u64>,
    pub grace_period_ms: Option<u64>,
    pub agent_command: Option<Vec<String>>,
}

impl Config {
    /// Reads `path`, or returns the defaults when the file does not exist.
    /// Unknown keys produce one warning.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("failed to read {}", path.display()));
            }
        };
        let config =
            parse(&text).with_context(|| format!("invalid config file {}", path.display()))?;
        if !config.unknown.is_empty() {
            let keys: Vec<&str> = config.unknown.keys().map(String::as_str).collect();
            tracing::warn!(
                "{}: unknown keys kept but not used: {}",
                path.display(),
                keys.join(", ")
            );
        }
        config
            .validate()
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(config)
    }

    /// Applies the command-line values over the file's.
    pub fn apply(&mut self, overrides: &Overrides) -> anyhow::Result<()> {
        if let Some(value) = overrides.max_iterations {
            self.max_iterations = value;
        }
        if let Some(value) = overrides.parallel {
            self.parallel = value;
        }
        if let Some(value) = overrides.attempt_timeout_ms {
            self.attempt_timeout_ms = value;
        }
        if let Some(value) = overrides.grace_period_ms {
            self.grace_period_ms = value;
        }
        if let Some(value) = &overrides.agent_command {
            self.agent_command = value.clone();
        }
        self.validate()
    }

    /// Checks the values that would make a run meaningless.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.parallel == 0 {
            anyhow::bail!("parallel must be at least 1");
        }
        if self.agent_command.is_empty() || self.agent_command[0].is_empty() {
            anyhow::bail!("agentCommand must name a program");
        }
        if self.heartbeat_interval_ms == 0 {
            anyhow::bail!("heartbeatIntervalMs must be at least 1");
        }
        check_worktrees_dir(&self.parallel_worktrees_dir)?;
        Ok(())
    }

    /// Returns whether sessions run in per-ticket worktrees.
    pub fn uses_worktrees(&self) -> bool {
        self.parallel > 1 || self.serial_use_worktree
    }

    /// Renders the file `ralph-loop init` writes: every key, pretty-printed.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Checks that `parallelWorktreesDir` names a directory inside the project
/// directory, by a relative path without `..`, and not git's own.
fn check_worktrees_dir(dir: &Path) -> anyhow::Result<()> {
    let mut names = 0;
    for component in dir.components() {
        match component {
            Component::Normal(name) if name == ".git" => anyhow::bail!(
                "parallelWorktreesDir {} is inside git's own directory",
                dir.display()
            ),
            Component::Normal(_) => names += 1,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => anyhow::bail!(
                "parallelWorktreesDir {} must be a relative path inside the project \
                 directory, without `..`",
                dir.display()
            ),
        }
    }
    if names == 0 {
        anyhow::bail!(
            "parallelWorktreesDir {:?} must name a directory below the project directory",
            dir.display().to_string()
        );
    }
    Ok(())
}

/// Parses the text of `config.json`. A value of the wrong type gets the
/// key it is at as context, such as `parallel` or `agentCommand[1]`.
fn parse(text: &str) -> anyhow::Result<Config> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let config = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(config) => config,
        Err(error) => {
            // A syntax error outside any key has a path of no segments or
            // of unknown ones, which print as `.` or `?`.
            let at_key = error
                .path()
                .iter()
                .any(|segment| !matches!(segment, serde_path_to_error::Segment::Unknown));
            let path = error.path().to_string();
            let error = anyhow::Error::new(error.into_inner());
            return Err(if at_key { error.context(path) } else { error });
        }
    };
    deserializer.end()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_keys() {
        let config: Config = serde_json::from_str(r#"{"parallel": 3}"#).unwrap();
        assert_eq!(config.parallel, 3);
        assert_eq!(config.max_iterations, 50);
        assert_eq!(config.agent_command[0], "pi");
    }

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let config: Config = serde_json::from_str(r#"{"futureKey": [1]}"#).unwrap();
        assert!(config.unknown.contains_key("futureKey"));
        assert!(config.to_json().contains("futureKey"));
    }

    #[test]
    fn worktrees_dir_must_stay_inside() {
        for dir in [
            "",
            ".",
            "..",
            "../trees",
            "/tmp/trees",
            "a/../../b",
            ".git/trees",
        ] {
            assert!(check_worktrees_dir(Path::new(dir)).is_err(), "{dir:?}");
        }
        for dir in ["trees", ".tf/ralph/worktrees", "./trees", "a/b"] {
            assert!(check_worktrees_dir(Path::new(dir)).is_ok(), "{dir:?}");
        }
    }

    #[test]
    fn type_error_names_the_key() {
        let error = format!("{:#}", parse("{\n  \"parallel\": \"x\"\n}").unwrap_err());
        assert!(error.starts_with("parallel: invalid type"), "{error}");
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn overflowing_number_names_the_key() {
        let error = format!(
            "{:#}",
            parse(r#"{"parallel": 99999999999999999999}"#).unwrap_err()
        );
        assert!(error.starts_with("parallel: "), "{error}");
    }

    #[test]
    fn nested_type_error_names_the_index() {
        let error = format!("{:#}", parse(r#"{"agentCommand": ["pi", 3]}"#).unwrap_err());
        assert!(error.starts_with("agentCommand[1]: "), "{error}");
    }

    #[test]
    fn syntax_error_has_no_key() {
        let error = format!("{:#}", parse("{").unwrap_err());
        assert!(error.starts_with("EOF while parsing"), "{error}");
    }

    #[test]
    fn trailing_text_is_rejected() {
        let error = format!("{:#}", parse("{} x").unwrap_err());
        assert!(error.starts_with("trailing characters"), "{error}");
    }

    #[test]
    fn zero_parallel_is_rejected() {
        let mut config = Config::default();
        let overrides = Overrides {
            parallel: Some(0),
            ..Overrides::default()
        };
        assert!(config.apply(&overrides).is_err());
    }
}
