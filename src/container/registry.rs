//! One drill's registry server in a container: waiting for it, the
//! container faults (freeze, crash and restart, partition), and removal
//! with its network and volume when the drill is over.

use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::bollard::query_parameters::{KillContainerOptions, RemoveVolumeOptions};
use testcontainers::{ContainerAsync, GenericImage};

use super::{ContainerError, Engine, docker_err, remove_container};

/// One drill's registry in a container; removed, with its network and
/// volume, when dropped.
pub struct RegistryContainer<'e> {
    pub(super) engine: &'e Engine,
    pub(super) container: Option<ContainerAsync<GenericImage>>,
    pub(super) id: String,
    pub(super) network: Option<String>,
    pub(super) volume: Option<String>,
    /// `http://127.0.0.1:PORT`, stable across restarts.
    pub url: String,
}

impl RegistryContainer<'_> {
    /// Polls `GET /healthz` until it answers 200.
    pub fn wait_healthy(&self, within: Duration) -> Result<(), ContainerError> {
        let start = std::time::Instant::now();
        loop {
            let mut http = crate::registry::client::Http::new(&self.url, None).map_err(|e| {
                ContainerError::Docker {
                    what: "reaching the registry".into(),
                    message: e.to_string(),
                }
            })?;
            http.set_timeout(Duration::from_secs(2));
            if http.call("GET", "/healthz", None).status == 200 {
                return Ok(());
            }
            if start.elapsed() > within {
                return Err(ContainerError::Docker {
                    what: format!("waiting for {}/healthz", self.url),
                    message: format!("no 200 within {}s", within.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn docker(&self) -> &Docker {
        &self.engine.docker
    }

    /// `registry_freeze` starts: every process in the container stops.
    pub fn freeze(&self) -> Result<(), ContainerError> {
        self.engine
            .rt
            .block_on(self.docker().pause_container(&self.id))
            .map_err(docker_err("pausing the registry container"))
    }

    pub fn thaw(&self) -> Result<(), ContainerError> {
        self.engine
            .rt
            .block_on(self.docker().unpause_container(&self.id))
            .map_err(docker_err("unpausing the registry container"))
    }

    /// `registry_crash`: SIGKILL, no chance to flush anything.
    pub fn kill(&self) -> Result<(), ContainerError> {
        self.engine
            .rt
            .block_on(self.docker().kill_container(
                &self.id,
                Some(KillContainerOptions {
                    signal: "SIGKILL".into(),
                }),
            ))
            .map_err(docker_err("killing the registry container"))
    }

    /// Starts the killed container again (same volume, same port) and
    /// waits until it answers.
    pub fn restart(&self) -> Result<(), ContainerError> {
        self.engine
            .rt
            .block_on(self.docker().start_container(&self.id, None))
            .map_err(docker_err("restarting the registry container"))?;
        self.wait_healthy(Duration::from_secs(30))
    }

    /// `network_partition` starts: the container leaves the drill's network.
    pub fn disconnect(&self) -> Result<(), ContainerError> {
        let network = self.network.clone().unwrap_or_default();
        self.engine
            .rt
            .block_on(self.docker().disconnect_network(
                &network,
                NetworkDisconnectRequest {
                    container: self.id.clone(),
                    force: Some(true),
                },
            ))
            .map_err(docker_err("disconnecting the registry from its network"))
    }

    pub fn reconnect(&self) -> Result<(), ContainerError> {
        let network = self.network.clone().unwrap_or_default();
        self.engine
            .rt
            .block_on(self.docker().connect_network(
                &network,
                NetworkConnectRequest {
                    container: self.id.clone(),
                    ..Default::default()
                },
            ))
            .map_err(docker_err("reconnecting the registry to its network"))
    }
}

impl Drop for RegistryContainer<'_> {
    fn drop(&mut self) {
        let engine = self.engine;
        let container = self.container.take();
        let (id, network, volume) = (self.id.clone(), self.network.take(), self.volume.take());
        engine.rt.block_on(async move {
            if let Some(c) = container {
                // A paused container cannot be removed gracefully: force it.
                if c.rm().await.is_err() {
                    remove_container(&engine.docker, &id).await;
                }
            } else if !id.is_empty() {
                remove_container(&engine.docker, &id).await;
            }
            if let Some(n) = network {
                let _ = engine.docker.remove_network(&n).await;
            }
            if let Some(v) = volume {
                let _ = engine
                    .docker
                    .remove_volume(&v, Some(RemoveVolumeOptions { force: true }))
                    .await;
            }
        });
    }
}
