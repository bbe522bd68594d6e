//! The drilled route in a team's system, behind one small interface the
//! engine's registry port can call: read it, remember it, register the
//! release, write weights, put it back.
//!
//! A route is a list of [`Entry`]s with weights. For a file (alias file,
//! flag file, LiteLLM config) that is literal; for an MLflow alias it is
//! the one version the alias names, at weight 100, and "writing weights"
//! moves the alias to the entry at 100. How a write reaches the clients
//! (a `reload:`, a cache TTL, a poll) is the engine's to run and time.

use std::collections::BTreeMap;

use super::files::{Entry, FileError, NewEntry, RouteFile, Snapshot};
use super::mlflow::{Mlflow, MlflowError};
use crate::scenario::staging::MlflowEntity;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Mlflow(#[from] MlflowError),
    #[error("{0}")]
    Refused(String),
}

pub trait RealRoute {
    /// The route as it is now; `None` if the system has no such route
    /// (renamed or removed: `route_moved`).
    fn read(&mut self) -> Result<Option<Vec<Entry>>, RouteError>;

    /// Remembers the system's state for [`RealRoute::restore`]. Call it in
    /// preflight, before anything changes.
    fn snapshot(&mut self) -> Result<(), RouteError>;

    /// Registers the release's version, pointing at the mock, without
    /// sending it traffic; returns its entry id.
    fn register(&mut self, release: &NewEntry) -> Result<String, RouteError>;

    /// Sets the weights of the entries named by id; every other entry of
    /// the route gets 0 (the route serves exactly what is named).
    fn write(&mut self, weights: &[(String, f64)]) -> Result<(), RouteError>;

    /// Puts the system back exactly as the snapshot found it (a drill's
    /// teardown, passed, failed or interrupted).
    fn restore(&mut self) -> Result<(), RouteError>;
}

/// A route held in a file; teardown writes the original bytes back.
pub struct FileRoute {
    pub file: RouteFile,
    snapshot: Option<Snapshot>,
}

impl FileRoute {
    pub fn new(file: RouteFile) -> FileRoute {
        FileRoute {
            file,
            snapshot: None,
        }
    }
}

impl RealRoute for FileRoute {
    fn read(&mut self) -> Result<Option<Vec<Entry>>, RouteError> {
        Ok(self.file.read()?)
    }

    fn snapshot(&mut self) -> Result<(), RouteError> {
        self.snapshot = Some(self.file.snapshot()?);
        Ok(())
    }

    fn register(&mut self, release: &NewEntry) -> Result<String, RouteError> {
        self.file.add(release)?;
        // A flag's weights are keyed by variant, which is the version.
        Ok(match self.file.format {
            super::files::Format::FlagFile => release.version.clone(),
            _ => release.id.clone(),
        })
    }

    /// The entries named get their weights and every other entry of the
    /// route 0, as a write of the simulated registry replaces the whole
    /// candidate list: a rollback to `v1 100%` leaves nothing on `v2`.
    fn write(&mut self, weights: &[(String, f64)]) -> Result<(), RouteError> {
        let current = self.file.read()?.unwrap_or_default();
        let mut all: Vec<(String, f64)> = current
            .iter()
            .filter(|e| !weights.iter().any(|(id, _)| *id == e.id))
            .map(|e| (e.id.clone(), 0.0))
            .collect();
        all.extend(weights.iter().cloned());
        Ok(self.file.set_weights(&all)?)
    }

    fn restore(&mut self) -> Result<(), RouteError> {
        match &self.snapshot {
            Some(s) => Ok(s.restore()?),
            None => Err(RouteError::Refused(
                "no snapshot to restore: take one in preflight".into(),
            )),
        }
    }
}

/// What teardown restores of an MLflow model or prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowSnapshot {
    /// alias → version, every alias of the model.
    pub aliases: BTreeMap<String, String>,
    /// The versions that existed.
    pub versions: Vec<String>,
}

/// An MLflow alias as a route: entries are versions (id = the version
/// number, `version` = the scenario's name from its tag, or the number).
pub struct MlflowRoute {
    pub client: Mlflow,
    pub entity: MlflowEntity,
    pub alias: String,
    /// The text a release's prompt version carries (prompts only).
    pub prompt_text: String,
    snapshot: Option<MlflowSnapshot>,
    /// The versions this drill registered: the only ones teardown deletes.
    created: Vec<String>,
}

impl MlflowRoute {
    pub fn new(client: Mlflow, entity: MlflowEntity, alias: impl Into<String>) -> MlflowRoute {
        MlflowRoute {
            client,
            entity,
            alias: alias.into(),
            prompt_text: String::new(),
            snapshot: None,
            created: Vec::new(),
        }
    }

    pub fn taken(&self) -> Option<&MlflowSnapshot> {
        self.snapshot.as_ref()
    }
}

impl RealRoute for MlflowRoute {
    fn read(&mut self) -> Result<Option<Vec<Entry>>, RouteError> {
        let Some(v) = self.client.alias(self.entity.name(), &self.alias)? else {
            return Ok(None);
        };
        let version = v
            .tags
            .get(super::mlflow::VERSION_TAG)
            .cloned()
            .unwrap_or_else(|| v.version.clone());
        Ok(Some(vec![Entry {
            id: v.version,
            version,
            weight: Some(100.0),
        }]))
    }

    fn snapshot(&mut self) -> Result<(), RouteError> {
        let model = self.client.registered_model(self.entity.name())?;
        let versions = self
            .client
            .versions(&self.entity)?
            .into_iter()
            .map(|v| v.version)
            .collect();
        self.snapshot = Some(MlflowSnapshot {
            aliases: model.aliases,
            versions,
        });
        Ok(())
    }

    fn register(&mut self, release: &NewEntry) -> Result<String, RouteError> {
        let v = self.client.create_version(
            &self.entity,
            &release.version,
            &release.base_url,
            &self.prompt_text,
        )?;
        self.created.push(v.version.clone());
        Ok(v.version)
    }

    fn write(&mut self, weights: &[(String, f64)]) -> Result<(), RouteError> {
        let whole: Vec<&(String, f64)> = weights.iter().filter(|(_, w)| *w >= 100.0).collect();
        let [(version, _)] = whole[..] else {
            return Err(RouteError::Refused(format!(
                "an MLflow alias names one version: give one entry weight 100 (got {weights:?})"
            )));
        };
        Ok(self
            .client
            .set_alias(self.entity.name(), &self.alias, version)?)
    }

    /// The drilled alias back to its version (removed where it had none),
    /// and the versions this drill registered deleted. Nothing else is
    /// touched: a version the team's CI registered meanwhile, or another
    /// alias someone moved during a long drill, stays as they left it.
    fn restore(&mut self) -> Result<(), RouteError> {
        let Some(snap) = self.snapshot.clone() else {
            return Err(RouteError::Refused(
                "no snapshot to restore: take one in preflight".into(),
            ));
        };
        let name = self.entity.name().to_string();
        let now = self.client.registered_model(&name)?;
        match snap.aliases.get(&self.alias) {
            Some(version) if now.aliases.get(&self.alias) != Some(version) => {
                self.client.set_alias(&name, &self.alias, version)?;
            }
            None if now.aliases.contains_key(&self.alias) => {
                self.client.delete_alias(&name, &self.alias)?;
            }
            _ => {}
        }
        let existing: Vec<String> = self
            .client
            .versions(&self.entity)?
            .into_iter()
            .map(|v| v.version)
            .collect();
        for v in &self.created {
            if existing.contains(v) && !snap.versions.contains(v) {
                self.client.delete_version(&name, v)?;
            }
        }
        self.created.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::files::Format;
    use super::*;

    #[test]
    fn a_file_route_is_read_written_and_put_back() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("aliases.yaml");
        let text = "aliases:  # gateway\n  r:\n    candidates:\n      - {id: a, version_pin: v1, weight: 100}  # stable\n";
        std::fs::write(&path, text).unwrap();
        let mut route = FileRoute::new(RouteFile::new(Format::AliasFile, &path, "r"));
        assert!(route.restore().is_err(), "no snapshot yet");
        route.snapshot().unwrap();
        let id = route
            .register(&NewEntry {
                id: "b".into(),
                version: "v2".into(),
                base_url: "http://127.0.0.1:1/mock/v2/v1".into(),
                weight: 0.0,
            })
            .unwrap();
        route.write(&[("a".into(), 75.0), (id, 25.0)]).unwrap();
        let weights = |route: &mut FileRoute| -> Vec<Option<f64>> {
            route
                .read()
                .unwrap()
                .unwrap()
                .iter()
                .map(|e| e.weight)
                .collect()
        };
        assert_eq!(weights(&mut route), [Some(75.0), Some(25.0)]);
        // A rollback names only its target: the release is left nothing
        // (it kept its 25% when only the entries named were written).
        route.write(&[("a".into(), 100.0)]).unwrap();
        assert_eq!(weights(&mut route), [Some(100.0), Some(0.0)]);
        route.restore().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_flag_files_release_is_weighted_by_the_id_register_returns() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("flags.json");
        let text = r#"{"flags": {"f": {"state": "ENABLED", "variants": {"v1": "a"}, "defaultVariant": "v1",
  "targeting": {"fractional": [["v1", 100]]}}}}
"#;
        std::fs::write(&path, text).unwrap();
        let mut route = FileRoute::new(RouteFile::new(Format::FlagFile, &path, "f"));
        let id = route
            .register(&NewEntry {
                id: "f:v2".into(),
                version: "v2".into(),
                base_url: "http://127.0.0.1:1/mock/v2/v1".into(),
                weight: 0.0,
            })
            .unwrap();
        route.write(&[("v1".into(), 50.0), (id, 50.0)]).unwrap();
        let weights: Vec<(String, Option<f64>)> = route
            .read()
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.weight))
            .collect();
        assert_eq!(
            weights,
            [
                ("v1".to_string(), Some(50.0)),
                ("v2".to_string(), Some(50.0))
            ]
        );
    }

    #[test]
    fn an_alias_takes_exactly_one_whole_version() {
        let mut route = MlflowRoute::new(
            Mlflow::new("http://127.0.0.1:9").unwrap(),
            MlflowEntity::Model("m".into()),
            "production",
        );
        let e = route
            .write(&[("1".into(), 50.0), ("2".into(), 50.0)])
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("an MLflow alias names one version"),
            "{e}"
        );
        assert!(route.restore().is_err());
    }
}
