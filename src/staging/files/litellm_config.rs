//! A LiteLLM proxy `config.yaml`: the deployments of `model_list` that
//! share a `model_name` form the route, each named by `model_info.id` and
//! weighted by `litellm_params.weight` (`simple-shuffle` routing).

use super::alias_file::quoted_like;
use super::insert::{Item, add_to_map, append_to_seq};
use super::tree::{Node, parse_yaml};
use super::{Entry, NewEntry, Problem, apply, weight_text, yaml_scalar};

fn model_list(root: &Node) -> Result<&Node, Problem> {
    root.get("model_list")
        .filter(|l| l.items().is_some())
        .ok_or_else(|| {
            Problem::new(
                root.start,
                "no `model_list:` list",
                "a LiteLLM config lists its deployments under `model_list:`",
            )
        })
}

/// The deployments of `group`, each with its id.
fn group<'a>(root: &'a Node, name: &str) -> Result<Vec<(&'a Node, String)>, Problem> {
    let mut out = Vec::new();
    for d in model_list(root)?.items().unwrap_or_default() {
        if d.get("model_name").and_then(Node::as_str) != Some(name) {
            continue;
        }
        let id = d
            .get("model_info")
            .and_then(|i| i.get("id"))
            .and_then(Node::as_str)
            .ok_or_else(|| {
                Problem::new(
                    d.start,
                    format!("a deployment of `{name}` has no `model_info.id`"),
                    "name each deployment, e.g. `model_info: {id: support-v1}`: weights and the x-litellm-model-id header are keyed by it",
                )
            })?;
        out.push((d, id.to_string()));
    }
    Ok(out)
}

fn parse(text: &str) -> Result<Node, Problem> {
    parse_yaml(text).map_err(|e| Problem::from((e, text)))
}

pub fn entries(text: &str, name: &str) -> Result<Option<Vec<Entry>>, Problem> {
    let root = parse(text)?;
    let deployments = group(&root, name)?;
    if deployments.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        deployments
            .into_iter()
            .map(|(d, id)| {
                let params = d.get("litellm_params");
                Entry {
                    id,
                    version: params
                        .and_then(|p| p.get("model"))
                        .and_then(Node::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    weight: params.and_then(|p| p.get("weight")).and_then(Node::as_f64),
                }
            })
            .collect(),
    ))
}

pub fn set_weights(text: &str, name: &str, weights: &[(String, f64)]) -> Result<String, Problem> {
    let root = parse(text)?;
    let deployments = group(&root, name)?;
    let mut edits = Vec::new();
    for (id, w) in weights {
        let (d, _) = deployments.iter().find(|(_, i)| i == id).ok_or_else(|| {
            Problem::new(
                root.start,
                format!("model group `{name}` has no deployment `{id}`"),
                "the deployment was removed from the config, or its model_info.id changed",
            )
        })?;
        let params = d.get("litellm_params").ok_or_else(|| {
            Problem::new(
                d.start,
                format!("deployment `{id}` has no `litellm_params`"),
                "give the deployment its `litellm_params`",
            )
        })?;
        let w = weight_text(*w);
        match params.get("weight") {
            Some(old) => edits.push((old.start..old.end, quoted_like(old, &w))),
            None => {
                let (at, s) = add_to_map(text, params, "weight", &w)?;
                edits.push((at..at, s));
            }
        }
    }
    Ok(apply(text, edits))
}

/// Adds a deployment of the group serving from the mock (an
/// OpenAI-compatible backend, so `openai/VERSION`).
pub fn add(text: &str, name: &str, new: &NewEntry) -> Result<String, Problem> {
    let root = parse(text)?;
    let list = model_list(&root)?;
    let model = format!("openai/{}", new.version);
    let w = weight_text(new.weight);
    let block = [
        format!("model_name: {}", yaml_scalar(name, false)),
        "litellm_params:".to_string(),
        format!("  model: {}", yaml_scalar(&model, false)),
        format!("  api_base: {}", yaml_scalar(&new.base_url, false)),
        "  api_key: mock".to_string(),
        format!("  weight: {w}"),
        "model_info:".to_string(),
        format!("  id: {}", yaml_scalar(&new.id, false)),
    ];
    let flow = format!(
        "{{model_name: {}, litellm_params: {{model: {}, api_base: {}, api_key: mock, weight: {w}}}, model_info: {{id: {}}}}}",
        yaml_scalar(name, true),
        yaml_scalar(&model, true),
        yaml_scalar(&new.base_url, true),
        yaml_scalar(&new.id, true)
    );
    let (at, s) = append_to_seq(
        text,
        list,
        &Item {
            block: &block,
            flow: &flow,
        },
    )?;
    Ok(apply(text, vec![(at..at, s)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# staging proxy
model_list:
  # the current prompt-v1 backend
  - model_name: support-llm
    litellm_params:
      model: openai/support-v1
      api_base: http://127.0.0.1:1/mock/v1/v1   # mock
      api_key: 'x'
      weight: 95
    model_info:
      id: support-v1
  - model_name: support-llm
    litellm_params: {model: openai/support-v0, api_base: 'http://127.0.0.1:1/mock/v0/v1', api_key: x}
    model_info: {id: support-v0}
  - model_name: other
    litellm_params:
      model: openai/o
router_settings:
  routing_strategy: simple-shuffle  # weighted
litellm_settings:
  callbacks: [\"prometheus\"]
";

    #[test]
    fn the_group_is_read_by_model_name() {
        let e = entries(FILE, "support-llm").unwrap().unwrap();
        let got: Vec<(&str, &str, Option<f64>)> = e
            .iter()
            .map(|e| (e.id.as_str(), e.version.as_str(), e.weight))
            .collect();
        assert_eq!(
            got,
            [
                ("support-v1", "openai/support-v1", Some(95.0)),
                ("support-v0", "openai/support-v0", None)
            ]
        );
        assert_eq!(entries(FILE, "gone").unwrap(), None);
        let err = entries(FILE, "other").unwrap_err();
        assert_eq!(
            err.message,
            "a deployment of `other` has no `model_info.id`"
        );
    }

    #[test]
    fn weights_are_replaced_or_added_in_place() {
        let out = set_weights(
            FILE,
            "support-llm",
            &[("support-v1".into(), 0.0), ("support-v0".into(), 100.0)],
        )
        .unwrap();
        let want = FILE
            .replace("      weight: 95\n", "      weight: 0\n")
            .replace("api_key: x}", "api_key: x, weight: 100}");
        assert_eq!(out, want);
        assert!(set_weights(FILE, "support-llm", &[("v9".into(), 1.0)]).is_err());
    }

    #[test]
    fn the_release_is_a_new_deployment_at_the_end_of_the_list() {
        let new = NewEntry {
            id: "support-v2".into(),
            version: "support-v2".into(),
            base_url: "http://127.0.0.1:9/mock/support-v2/v1".into(),
            weight: 5.0,
        };
        let out = add(FILE, "support-llm", &new).unwrap();
        let added = "  - model_name: support-llm
    litellm_params:
      model: openai/support-v2
      api_base: http://127.0.0.1:9/mock/support-v2/v1
      api_key: mock
      weight: 5
    model_info:
      id: support-v2
";
        assert_eq!(
            out,
            FILE.replace("router_settings:", &format!("{added}router_settings:"))
        );
        let e = entries(&out, "support-llm").unwrap().unwrap();
        assert_eq!((e[2].id.as_str(), e[2].weight), ("support-v2", Some(5.0)));
    }
}
