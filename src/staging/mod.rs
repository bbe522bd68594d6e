//! Building blocks for drilling a team's real staging (SPEC section 8):
//! the harness's own model backend, clients of the systems a route can live
//! in, and rewriters of the files that hold a route.
//!
//! - [`mock`]: an OpenAI-compatible backend serving each version's
//!   behaviour for real (errors, latency, wrong answers);
//! - [`mlflow`], [`litellm`]: REST clients of an MLflow registry and a
//!   LiteLLM proxy;
//! - [`files`]: byte-keeping rewriters of a gateway alias file, a flagd
//!   flag file and a LiteLLM `config.yaml`;
//! - [`preflight`]: the real route compared with the scenario, as findings;
//! - [`route`]: the route in a team's system behind one interface
//!   (read, snapshot, register the release, write weights, restore);
//! - [`standin`]: the app that resolves an alias or a file the way a
//!   client does (cached, polled) and calls the resolved version.
//!
//! The drill engine drives these through its ports; nothing here decides
//! or times a rollback. A `reload:` is an `exec` or `http` call, run with
//! the same runners as the procedure's team steps.

pub mod files;
pub mod http;
pub mod litellm;
pub mod mlflow;
pub mod mock;
pub mod preflight;
pub mod route;
pub mod standin;
