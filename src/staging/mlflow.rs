//! A blocking client for the MLflow model registry and prompt registry
//! REST API (`/api/2.0/mlflow`, checked against MLflow 3.17.2): what an
//! `mlflow` drill reads and moves.
//!
//! Traps it accounts for: `model-versions/search` always answers
//! `aliases: []`, so aliases are read from `registered-models/get` or
//! `registered-models/alias`; prompt versions are only found with the
//! `tag.\`mlflow.prompt.is_prompt\`` filter; deleting a version silently
//! drops its aliases. MLflow refuses an `http://` version source (it would
//! address a host other than its artifact store), so a release's version
//! names the mock in a `rollback-drill://` source and, usable as is, in the
//! [`BASE_URL_TAG`] tag.

use crate::live::request::encode;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::http::{Client, HttpError, Response};
use crate::scenario::staging::MlflowEntity;

const API: &str = "/api/2.0/mlflow";
/// The version tag holding the mock's OpenAI base URL.
pub const BASE_URL_TAG: &str = "rollback_drill.base_url";
/// The version tag holding the scenario's name of the version.
pub const VERSION_TAG: &str = "rollback_drill.version";
const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";
const PROMPT_TEXT_TAG: &str = "mlflow.prompt.text";
/// The source MLflow's own prompt client writes: prompts have no artifact.
const PROMPT_SOURCE: &str = "dummy-source";

#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error("MLflow {endpoint}: {source}; is the server up at that URL?")]
    Unreachable { endpoint: String, source: HttpError },
    #[error("MLflow {endpoint} answered {status} {code}: {message}")]
    Api {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("MLflow {endpoint} answered {status} with a body that is not its JSON: {detail}")]
    Decode {
        endpoint: String,
        status: u16,
        detail: String,
    },
}

impl MlflowError {
    /// MLflow's `error_code`, e.g. `RESOURCE_DOES_NOT_EXIST`.
    pub fn code(&self) -> Option<&str> {
        match self {
            MlflowError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A registered model (or prompt) with its aliases, the only trustworthy
/// place to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredModel {
    pub name: String,
    /// alias → version, sorted by alias.
    pub aliases: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl RegisteredModel {
    pub fn is_prompt(&self) -> bool {
        self.tags.get(PROMPT_TAG).map(String::as_str) == Some("true")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub source: String,
    pub tags: BTreeMap<String, String>,
}

impl ModelVersion {
    /// The mock base URL a drill's version carries.
    pub fn base_url(&self) -> Option<&str> {
        self.tags.get(BASE_URL_TAG).map(String::as_str)
    }

    /// A prompt version's text.
    pub fn prompt_text(&self) -> Option<&str> {
        self.tags.get(PROMPT_TEXT_TAG).map(String::as_str)
    }
}

/// The version source naming a mock base URL: MLflow accepts this scheme
/// where it refuses `http://`.
pub fn mock_source(base_url: &str) -> String {
    format!(
        "rollback-drill://{}",
        base_url.strip_prefix("http://").unwrap_or(base_url)
    )
}

pub struct Mlflow {
    http: Client,
}

impl Mlflow {
    /// `url` is the tracking server, `http://HOST:PORT`.
    pub fn new(url: &str) -> Result<Mlflow, HttpError> {
        Ok(Mlflow {
            http: Client::new(url)?,
        })
    }

    /// Whether `GET /health` answers 200 (the server's readiness).
    pub fn healthy(&self) -> bool {
        self.http.get("/health").is_ok_and(|r| r.status == 200)
    }

    fn call(
        &self,
        method: &str,
        endpoint: &str,
        body: Option<Value>,
    ) -> Result<Value, MlflowError> {
        let path = format!("{API}/{endpoint}");
        let shown = format!(
            "{method} {}",
            endpoint.split('?').next().unwrap_or(endpoint)
        );
        let reply: Response = self
            .http
            .call(method, &path, body.map(|b| b.to_string()).as_deref())
            .map_err(|source| MlflowError::Unreachable {
                endpoint: shown.clone(),
                source,
            })?;
        let value: Value = serde_json::from_str(&reply.body).map_err(|e| MlflowError::Decode {
            endpoint: shown.clone(),
            status: reply.status,
            detail: e.to_string(),
        })?;
        if reply.is_success() {
            return Ok(value);
        }
        Err(MlflowError::Api {
            endpoint: shown,
            status: reply.status,
            code: value["error_code"].as_str().unwrap_or("?").to_string(),
            message: value["message"].as_str().unwrap_or(&reply.body).to_string(),
        })
    }

    /// `GET registered-models/get`: the model or prompt with its aliases.
    pub fn registered_model(&self, name: &str) -> Result<RegisteredModel, MlflowError> {
        let v = self.call(
            "GET",
            &format!("registered-models/get?name={}", encode(name)),
            None,
        )?;
        let m = &v["registered_model"];
        let aliases = m["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a["alias"].as_str()?.into(), a["version"].as_str()?.into())))
            .collect();
        Ok(RegisteredModel {
            name: m["name"].as_str().unwrap_or(name).to_string(),
            aliases,
            tags: tags_of(&m["tags"]),
        })
    }

    /// `POST registered-models/create`; a prompt is a model tagged as one.
    pub fn create(&self, entity: &MlflowEntity) -> Result<(), MlflowError> {
        let mut body = json!({"name": entity.name()});
        if entity.is_prompt() {
            body["tags"] = json!([{"key": PROMPT_TAG, "value": "true"}]);
        }
        self.call("POST", "registered-models/create", Some(body))
            .map(drop)
    }

    /// `DELETE registered-models/delete` (its versions go with it).
    pub fn delete(&self, name: &str) -> Result<(), MlflowError> {
        self.call(
            "DELETE",
            "registered-models/delete",
            Some(json!({"name": name})),
        )
        .map(drop)
    }

    /// `GET registered-models/alias`: the version an alias names, `None`
    /// if the model has no such alias (MLflow's 400 for it).
    pub fn alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>, MlflowError> {
        let endpoint = format!(
            "registered-models/alias?name={}&alias={}",
            encode(name),
            encode(alias)
        );
        match self.call("GET", &endpoint, None) {
            Ok(v) => Ok(Some(version_of(&v["model_version"]))),
            Err(e) if e.code() == Some("INVALID_PARAMETER_VALUE") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST registered-models/alias`: moves (or sets) an alias. This is
    /// an `alias_remap` rollback.
    pub fn set_alias(&self, name: &str, alias: &str, version: &str) -> Result<(), MlflowError> {
        let body = json!({"name": name, "alias": alias, "version": version});
        self.call("POST", "registered-models/alias", Some(body))
            .map(drop)
    }

    /// `DELETE registered-models/alias`.
    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<(), MlflowError> {
        let body = json!({"name": name, "alias": alias});
        self.call("DELETE", "registered-models/alias", Some(body))
            .map(drop)
    }

    /// `POST model-versions/create` of a model version serving from the
    /// mock at `base_url`, tagged with the scenario's version name.
    pub fn create_version(
        &self,
        entity: &MlflowEntity,
        version_name: &str,
        base_url: &str,
        prompt_text: &str,
    ) -> Result<ModelVersion, MlflowError> {
        let mut tags = vec![
            json!({"key": BASE_URL_TAG, "value": base_url}),
            json!({"key": VERSION_TAG, "value": version_name}),
        ];
        let source = if entity.is_prompt() {
            tags.push(json!({"key": PROMPT_TAG, "value": "true"}));
            tags.push(json!({"key": PROMPT_TEXT_TAG, "value": prompt_text}));
            PROMPT_SOURCE.to_string()
        } else {
            mock_source(base_url)
        };
        let body = json!({"name": entity.name(), "source": source, "tags": tags});
        let v = self.call("POST", "model-versions/create", Some(body))?;
        Ok(version_of(&v["model_version"]))
    }

    /// `GET model-versions/get`; `None` if there is no such version (a
    /// retired rollback target).
    pub fn version(&self, name: &str, version: &str) -> Result<Option<ModelVersion>, MlflowError> {
        let endpoint = format!(
            "model-versions/get?name={}&version={}",
            encode(name),
            encode(version)
        );
        match self.call("GET", &endpoint, None) {
            Ok(v) => Ok(Some(version_of(&v["model_version"]))),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET model-versions/search`: every version, oldest first. A prompt's
    /// need the prompt tag in the filter, or MLflow answers none.
    pub fn versions(&self, entity: &MlflowEntity) -> Result<Vec<ModelVersion>, MlflowError> {
        let name = entity.name().replace('\'', "\\'");
        let filter = if entity.is_prompt() {
            format!("name = '{name}' AND tag.`{PROMPT_TAG}` = 'true'")
        } else {
            format!("name = '{name}'")
        };
        let v = self.call(
            "GET",
            &format!(
                "model-versions/search?filter={}&max_results=1000",
                encode(&filter)
            ),
            None,
        )?;
        let mut out: Vec<ModelVersion> = v["model_versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(version_of)
            .collect();
        out.sort_by_key(|m| m.version.parse::<u64>().unwrap_or(u64::MAX));
        Ok(out)
    }

    /// `POST model-versions/set-tag` (e.g. to mark a drill's version as
    /// left behind on purpose).
    pub fn set_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        let body = json!({"name": name, "version": version, "key": key, "value": value});
        self.call("POST", "model-versions/set-tag", Some(body))
            .map(drop)
    }

    /// `DELETE model-versions/delete`. MLflow drops the version's aliases
    /// with it, without a word.
    pub fn delete_version(&self, name: &str, version: &str) -> Result<(), MlflowError> {
        let body = json!({"name": name, "version": version});
        self.call("DELETE", "model-versions/delete", Some(body))
            .map(drop)
    }
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["key"].as_str()?.into(), t["value"].as_str()?.into())))
        .collect()
}

fn version_of(v: &Value) -> ModelVersion {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    ModelVersion {
        name: s("name"),
        version: s("version"),
        source: s("source"),
        tags: tags_of(&v["tags"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_queries_are_spelled_as_mlflow_takes_them() {
        assert_eq!(
            mock_source("http://127.0.0.1:9/mock/v2/v1"),
            "rollback-drill://127.0.0.1:9/mock/v2/v1"
        );
        assert_eq!(encode("name = 'a b'"), "name%20%3D%20%27a%20b%27");
    }

    #[test]
    fn an_unreachable_server_names_the_endpoint() {
        // Port 9 (discard) is closed on loopback.
        let m = Mlflow::new("http://127.0.0.1:9").expect("a URL");
        let e = m.registered_model("m").expect_err("no server");
        let text = e.to_string();
        assert!(
            text.starts_with("MLflow GET registered-models/get: "),
            "{text}"
        );
        assert!(!m.healthy());
    }
}
