//! `run --backend container`: each drill gets its own registry server in a
//! throwaway container, started through testcontainers from an image of our
//! own binary (see [`image`]; nothing is ever pulled), with its state on a
//! volume so a crash and restart keep it, on a network of its own so a
//! partition can cut it off. Container faults (freeze, crash, partition)
//! act on that container.
//!
//! Everything created carries the label [`LABEL`] and the owner's
//! host and PID ([`OWNER`]); it is removed when the drill ends, fails or is
//! interrupted, and a later run removes what a killed run left behind.

pub mod image;
mod registry;

pub use registry::RegistryContainer;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{NetworkCreateRequest, PortBinding, VolumeCreateRequest};
use testcontainers::bollard::query_parameters::{
    CreateImageOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions,
};
use testcontainers::core::{Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

/// Every container, network and volume the harness creates has this label.
pub const LABEL: &str = "io.rollback-drill.managed";
/// `HOST:PID:START` of the run that created it (START: when the process
/// started, so a reused PID is not mistaken for it).
pub const OWNER: &str = "io.rollback-drill.owner";
/// The oldest Docker Engine API the backend works with (Engine 20.10).
pub const MIN_API: (u32, u32) = (1, 41);
/// The port the server listens on inside its container.
const PORT: u16 = 8080;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(
        "no Docker engine at {host} ({detail}); the container backend needs one: start the engine, or set DOCKER_HOST to where it listens"
    )]
    NoEngine { host: String, detail: String },
    #[error(
        "the Docker engine at {host} speaks API {found}, the container backend needs {}.{} or newer (Docker Engine 20.10+): upgrade the engine",
        MIN_API.0, MIN_API.1
    )]
    OldEngine { host: String, found: String },
    #[error("cannot make the registry image: {0}")]
    Image(#[from] image::ImageError),
    #[error("Docker engine: {what} failed: {message}")]
    Docker { what: String, message: String },
}

fn docker_err(what: &str) -> impl Fn(testcontainers::bollard::errors::Error) -> ContainerError {
    let what = what.to_string();
    move |e| ContainerError::Docker {
        what: what.clone(),
        message: e.to_string(),
    }
}

/// Where the engine is looked for: `DOCKER_HOST`, else the default socket.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// `"1.41"` → `(1, 41)`.
fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// When process `pid` started (clock ticks after boot, field 22 of
/// `/proc/PID/stat`), if it runs: with the PID it names one process, even
/// after the PID is reused.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// This process as an owner label value: `HOST:PID:START`.
pub fn owner() -> String {
    static OWNER_ID: OnceLock<String> = OnceLock::new();
    OWNER_ID
        .get_or_init(|| {
            let pid = std::process::id();
            format!("{}:{pid}:{}", hostname(), start_time(pid).unwrap_or(0))
        })
        .clone()
}

/// Whether the owner `HOST:PID:START` is a process that still runs here
/// (the same PID and start time); an owner on another host, or one that
/// cannot be read, is never judged dead.
fn owner_alive(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return true;
    };
    let (Ok(start), Ok(pid)) = (start.parse::<u64>(), pid.parse::<u32>()) else {
        return true;
    };
    if host != hostname() {
        return true;
    }
    start_time(pid) == Some(start)
}

/// What a sweep of leftovers removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// What carries the harness's label: (id or name, owner) of each.
struct Labelled {
    containers: Vec<(String, String)>,
    networks: Vec<(String, String)>,
    volumes: Vec<(String, String)>,
}

/// A connection to the Docker engine, checked, with the runtime its
/// asynchronous client runs on.
pub struct Engine {
    rt: tokio::runtime::Runtime,
    docker: Docker,
    host: String,
    pub api_version: String,
}

/// The image to run registries from, and whether this run imported it.
#[derive(Debug, Clone)]
pub struct ImageRef {
    pub tag: String,
    pub created: bool,
    pub is_static: bool,
}

impl Engine {
    /// Connects to the engine and checks its API version.
    pub fn connect() -> Result<Engine, ContainerError> {
        let host = engine_host();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| ContainerError::NoEngine {
                host: host.clone(),
                detail: e.to_string(),
            })?;
        let no_engine = |detail: String| ContainerError::NoEngine {
            host: host.clone(),
            detail,
        };
        let docker = Docker::connect_with_defaults().map_err(|e| no_engine(e.to_string()))?;
        let version = rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), docker.version()).await
            })
            .map_err(|_| no_engine("no answer within 10s".into()))?
            .map_err(|e| no_engine(e.to_string()))?;
        let found = version.api_version.unwrap_or_default();
        match parse_api(&found) {
            Some(v) if v >= MIN_API => {}
            _ => return Err(ContainerError::OldEngine { host, found }),
        }
        // Requests go at the engine's own version, never above it.
        let docker = rt
            .block_on(docker.negotiate_version())
            .map_err(|e| no_engine(e.to_string()))?;
        Ok(Engine {
            rt,
            docker,
            host,
            api_version: found,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The image of `exe`: reused when an image with its content hash is
    /// there, imported otherwise. Never pulls.
    pub fn ensure_image(&self, exe: &std::path::Path) -> Result<ImageRef, ContainerError> {
        let fs = image::rootfs(exe).map_err(ContainerError::Image)?;
        let name = format!("{}:{}", image::REPO, fs.tag);
        let exists = self.rt.block_on(self.docker.inspect_image(&name)).is_ok();
        if !exists {
            let options = CreateImageOptions {
                from_src: Some("-".into()),
                repo: Some(image::REPO.into()),
                tag: Some(fs.tag.clone()),
                changes: vec![
                    format!("ENTRYPOINT [\"{}\"]", image::ENTRYPOINT),
                    format!("EXPOSE {PORT}"),
                ],
                ..Default::default()
            };
            let body = testcontainers::bollard::body_full(fs.tar.into());
            self.rt.block_on(async {
                use futures_util::StreamExt;
                let mut stream = self.docker.create_image(Some(options), Some(body), None);
                while let Some(item) = stream.next().await {
                    let info = item.map_err(docker_err("importing the registry image"))?;
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(ContainerError::Image(image::ImageError::Refused(e)));
                    }
                }
                Ok(())
            })?;
        }
        Ok(ImageRef {
            tag: fs.tag,
            created: !exists,
            is_static: fs.is_static,
        })
    }

    /// Everything with the harness's label, with its owner: (id, owner)
    /// per container, network and volume.
    fn list_labelled(&self) -> Result<Labelled, ContainerError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL}=true")])]);
        let owner_of = |labels: Option<&HashMap<String, String>>| {
            labels
                .and_then(|l| l.get(OWNER))
                .cloned()
                .unwrap_or_default()
        };
        self.rt.block_on(async {
            let containers = self
                .docker
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(filters.clone()),
                    ..Default::default()
                }))
                .await
                .map_err(docker_err("listing containers"))?;
            let networks = self
                .docker
                .list_networks(Some(ListNetworksOptions {
                    filters: Some(filters.clone()),
                }))
                .await
                .map_err(docker_err("listing networks"))?;
            let volumes = self
                .docker
                .list_volumes(Some(ListVolumesOptions {
                    filters: Some(filters),
                }))
                .await
                .map_err(docker_err("listing volumes"))?;
            Ok(Labelled {
                containers: containers
                    .into_iter()
                    .map(|c| (c.id.unwrap_or_default(), owner_of(c.labels.as_ref())))
                    .collect(),
                networks: networks
                    .into_iter()
                    .map(|n| (n.id.unwrap_or_default(), owner_of(n.labels.as_ref())))
                    .collect(),
                volumes: volumes
                    .volumes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| (v.name, owner_of(Some(&v.labels))))
                    .collect(),
            })
        })
    }

    /// Removes containers, networks and volumes left by runs whose process
    /// is gone (killed before it could clean up). Runs still going, here or
    /// on another host sharing the engine, are left alone.
    pub fn sweep_leftovers(&self) -> Result<Swept, ContainerError> {
        let found = self.list_labelled()?;
        let dead = |owner: &String| !owner_alive(owner);
        self.rt.block_on(async {
            let mut swept = Swept::default();
            // Containers first: a network or volume in use cannot go.
            for (id, _) in found.containers.iter().filter(|(_, o)| dead(o)) {
                if remove_container(&self.docker, id).await {
                    swept.containers += 1;
                }
            }
            for (id, _) in found.networks.iter().filter(|(_, o)| dead(o)) {
                if self.docker.remove_network(id).await.is_ok() {
                    swept.networks += 1;
                }
            }
            for (name, _) in found.volumes.iter().filter(|(_, o)| dead(o)) {
                let removed = self
                    .docker
                    .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
                    .await;
                if removed.is_ok() {
                    swept.volumes += 1;
                }
            }
            Ok(swept)
        })
    }

    /// How many containers, networks and volumes carry the label, whoever
    /// made them. For tests and diagnostics.
    pub fn labelled(&self) -> Result<(usize, usize, usize), ContainerError> {
        let l = self.list_labelled()?;
        Ok((l.containers.len(), l.networks.len(), l.volumes.len()))
    }

    /// Starts a registry server in a container of its own, on a network
    /// and volume of its own, reachable on a free loopback port; returns
    /// once `/healthz` answers.
    pub fn start_registry(
        &self,
        image: &ImageRef,
        tokens_yaml: &str,
    ) -> Result<RegistryContainer<'_>, ContainerError> {
        let owner = owner();
        let suffix = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let labels = HashMap::from([
            (LABEL.to_string(), "true".to_string()),
            (OWNER.to_string(), owner.clone()),
        ]);
        let network = format!("rollback-drill-{suffix}");
        let volume = format!("rollback-drill-state-{suffix}");
        let mut rc = RegistryContainer {
            engine: self,
            container: None,
            id: String::new(),
            network: None,
            volume: None,
            url: String::new(),
        };
        self.rt.block_on(async {
            self.docker
                .create_network(NetworkCreateRequest {
                    name: network.clone(),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await
                .map_err(docker_err("creating the drill's network"))?;
            rc.network = Some(network.clone());
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(volume.clone()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await
                .map_err(docker_err("creating the state volume"))?;
            rc.volume = Some(volume.clone());
            Ok::<_, ContainerError>(())
        })?;
        let host_port = free_port().map_err(|e| ContainerError::Docker {
            what: "finding a free loopback port".into(),
            message: e.to_string(),
        })?;
        let request = GenericImage::new(image::REPO, &image.tag)
            .with_wait_for(WaitFor::message_on_stdout("registry listening on"))
            .with_cmd([
                "registry",
                "serve",
                "--addr",
                &format!("0.0.0.0:{PORT}"),
                "--state",
                "/data/state.db",
            ])
            .with_env_var(crate::server::TOKENS_ENV, tokens_yaml)
            .with_mount(Mount::volume_mount(volume.clone(), "/data"))
            .with_network(network.clone())
            .with_label(LABEL, "true")
            .with_label(OWNER, owner)
            .with_startup_timeout(Duration::from_secs(60))
            .with_host_config_modifier(move |hc| {
                // Published on loopback only, at a port we chose, so a
                // restarted container comes back at the same address.
                hc.port_bindings = Some(HashMap::from([(
                    format!("{PORT}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(host_port.to_string()),
                    }]),
                )]));
            });
        let container = self
            .rt
            .block_on(request.start())
            .map_err(|e| ContainerError::Docker {
                what: format!(
                    "starting the registry container from {}:{}",
                    image::REPO,
                    image.tag
                ),
                message: e.to_string(),
            })?;
        rc.id = container.id().to_string();
        rc.container = Some(container);
        rc.url = format!("http://127.0.0.1:{host_port}");
        rc.wait_healthy(Duration::from_secs(30))?;
        Ok(rc)
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Removes a container (running or not) and its anonymous volumes.
async fn remove_container(docker: &Docker, id: &str) -> bool {
    docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() {
        assert_eq!(parse_api("1.41"), Some((1, 41)));
        assert!(parse_api("1.9").expect("parses") < MIN_API);
        assert!(parse_api("1.100").expect("parses") > MIN_API);
        assert_eq!(parse_api("junk"), None);
    }

    #[test]
    fn owners_on_this_host_are_alive_only_while_their_process_runs() {
        let me = owner();
        assert!(owner_alive(&me));
        let host = hostname();
        // PIDs above the kernel's maximum never run.
        assert!(!owner_alive(&format!("{host}:4194305:1")));
        // A PID that runs, but started at another time: reused, so dead.
        let pid = std::process::id();
        let start = start_time(pid).expect("our own start time");
        assert!(!owner_alive(&format!("{host}:{pid}:{}", start + 1)));
        assert!(owner_alive("some-other-host:1:1"));
    }
}
