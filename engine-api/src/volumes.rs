//! Volumes: create, inspect, list, remove.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::client::{seg, Client, Query, Request};
use crate::error::Result;
use crate::filters::Filters;

/// Body of `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct VolumeCreate {
    /// Name; the engine picks one when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Driver (`local` by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub driver_opts: HashMap<String, String>,
    /// Labels.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub labels: HashMap<String, String>,
}

impl VolumeCreate {
    /// A local volume named `name`.
    pub fn new(name: impl Into<String>) -> VolumeCreate {
        VolumeCreate {
            name: name.into(),
            ..VolumeCreate::default()
        }
    }

    /// Adds a label (builder style).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> VolumeCreate {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// A volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Volume {
    /// Name.
    pub name: String,
    /// Driver.
    pub driver: Option<String>,
    /// Where the data lives on the engine's host.
    pub mountpoint: Option<String>,
    /// Labels.
    pub labels: Option<HashMap<String, String>>,
    /// Scope (`local`).
    pub scope: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeList {
    #[serde(default)]
    volumes: Option<Vec<Volume>>,
}

impl Client {
    /// `POST /volumes/create`.
    pub async fn create_volume(&self, body: &VolumeCreate) -> Result<Volume> {
        self.json(Request::post("/volumes/create").json_body(body)?)
            .await
    }

    /// `GET /volumes/{name}`.
    pub async fn inspect_volume(&self, name: &str) -> Result<Volume> {
        self.json(Request::get(format!("/volumes/{}", seg(name))))
            .await
    }

    /// `GET /volumes` with filters (`name`, `label`, `dangling`, `driver`).
    pub async fn list_volumes(&self, filters: &Filters) -> Result<Vec<Volume>> {
        let q = Query::new().filters(filters).done();
        let list: VolumeList = self.json(Request::get("/volumes").query(q)).await?;
        Ok(list.volumes.unwrap_or_default())
    }

    /// `DELETE /volumes/{name}`.
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let q = Query::new().flag_if("force", force).done();
        self.send(Request::delete(format!("/volumes/{}", seg(name))).query(q))
            .await
            .map(drop)
    }
}
