//! Networks: create, inspect, list, connect, disconnect, remove.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::client::{seg, Client, Query, Request};
use crate::error::Result;
use crate::filters::Filters;

/// Body of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct NetworkCreate {
    /// The network's name.
    pub name: String,
    /// Driver (`bridge` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Fail if a network with this name exists (older engines allow duplicates otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    /// Restrict external access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    /// Labels.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub labels: HashMap<String, String>,
    /// Driver options.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub options: HashMap<String, String>,
}

impl NetworkCreate {
    /// A bridge network named `name`.
    pub fn new(name: impl Into<String>) -> NetworkCreate {
        NetworkCreate {
            name: name.into(),
            check_duplicate: Some(true),
            ..NetworkCreate::default()
        }
    }

    /// Adds a label (builder style).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> NetworkCreate {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// Answer to `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct NetworkCreated {
    /// The new network's id.
    #[serde(rename = "Id")]
    pub id: String,
    /// A warning from the engine, if any.
    pub warning: Option<String>,
}

/// A network as `inspect` and `list` describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Network {
    /// Name.
    pub name: String,
    /// Id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Driver.
    pub driver: Option<String>,
    /// Scope (`local`).
    pub scope: Option<String>,
    /// Internal network.
    pub internal: Option<bool>,
    /// Labels.
    pub labels: Option<HashMap<String, String>>,
    /// Connected containers by id (inspect only).
    pub containers: Option<HashMap<String, NetworkContainer>>,
}

/// A container attached to a [`Network`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct NetworkContainer {
    /// Container name.
    pub name: Option<String>,
    /// IPv4 address with prefix.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
}

/// Body of `POST /networks/{id}/connect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct NetworkConnect {
    /// The container to connect.
    pub container: String,
    /// Endpoint settings (aliases, …) as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<serde_json::Value>,
}

impl Client {
    /// `POST /networks/create`.
    pub async fn create_network(&self, body: &NetworkCreate) -> Result<NetworkCreated> {
        self.json(Request::post("/networks/create").json_body(body)?)
            .await
    }

    /// `GET /networks/{id}`.
    pub async fn inspect_network(&self, id: &str) -> Result<Network> {
        self.json(Request::get(format!("/networks/{}", seg(id))))
            .await
    }

    /// `GET /networks` with filters (`name`, `label`, `driver`, …).
    pub async fn list_networks(&self, filters: &Filters) -> Result<Vec<Network>> {
        let q = Query::new().filters(filters).done();
        self.json(Request::get("/networks").query(q)).await
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect_network(&self, network: &str, container: &str) -> Result<()> {
        let body = NetworkConnect {
            container: container.to_string(),
            endpoint_config: None,
        };
        self.send(Request::post(format!("/networks/{}/connect", seg(network))).json_body(&body)?)
            .await
            .map(drop)
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let body = serde_json::json!({ "Container": container, "Force": force });
        self.send(Request::post(format!("/networks/{}/disconnect", seg(network))).json_body(&body)?)
            .await
            .map(drop)
    }

    /// `DELETE /networks/{id}`.
    pub async fn remove_network(&self, id: &str) -> Result<()> {
        self.send(Request::delete(format!("/networks/{}", seg(id))))
            .await
            .map(drop)
    }
}
