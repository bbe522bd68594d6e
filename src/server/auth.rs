//! Bearer tokens, roles, and who may roll back what.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::ChangeType;
use crate::scenario::yaml::{self, Path as FieldPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Deployer,
    OnCall,
    PlatformLead,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Viewer,
        Role::Deployer,
        Role::OnCall,
        Role::PlatformLead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::OnCall => "on_call",
            Role::PlatformLead => "platform_lead",
        }
    }

    /// Change types this role may roll back.
    pub fn rollback_authority(self) -> &'static [ChangeType] {
        match self {
            Role::Viewer | Role::Deployer => &[],
            Role::OnCall => &[ChangeType::Prompt, ChangeType::Model],
            Role::PlatformLead => ChangeType::ALL,
        }
    }

    /// Whether the role may change weights and versions (releases).
    pub fn may_deploy(self) -> bool {
        matches!(self, Role::Deployer | Role::PlatformLead)
    }
}

/// Why a tokens file (or `ROLLBACK_DRILL_TOKENS`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("cannot read tokens file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error(
        "{origin}:{line}:{column}: {message} (a tokens file maps each token to viewer, deployer, on_call or platform_lead)"
    )]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("tokens file {0} holds no tokens")]
    Empty(String),
}

/// Tokens and their roles.
#[derive(Debug, Clone, Default)]
pub struct Tokens(BTreeMap<String, Role>);

impl Tokens {
    /// A YAML or JSON mapping `token: role`.
    pub fn load(file: &Path) -> Result<Tokens, TokensError> {
        let text = std::fs::read_to_string(file).map_err(|source| TokensError::Read {
            file: file.display().to_string(),
            source,
        })?;
        Tokens::parse(&text, &file.display().to_string())
    }

    /// The same mapping from text; `origin` names it in messages (a file,
    /// or the environment variable it came from).
    pub fn parse(text: &str, origin: &str) -> Result<Tokens, TokensError> {
        let syntax = |line, column, message| TokensError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            message,
        };
        let node = yaml::parse(text).map_err(|e| syntax(e.mark.line, e.mark.column, e.message))?;
        let map: BTreeMap<String, Role> =
            yaml::from_node(&node, &FieldPath::root()).map_err(|e| {
                let m = e.mark.unwrap_or_default();
                syntax(m.line, m.column, e.message)
            })?;
        if map.is_empty() {
            return Err(TokensError::Empty(origin.to_string()));
        }
        Ok(Tokens(map))
    }

    /// One fresh random token per role, for a server started without a
    /// tokens file (printed at start).
    pub fn generate() -> Tokens {
        let mut bytes = [0u8; 64];
        let read = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        if read.is_err() {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
            }
        }
        let mut map = BTreeMap::new();
        for (i, role) in Role::ALL.iter().enumerate() {
            let hex: String = bytes[i * 16..(i + 1) * 16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            map.insert(format!("{}-{hex}", role.as_str()), *role);
        }
        Tokens(map)
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Role)>) -> Tokens {
        Tokens(pairs.into_iter().collect())
    }

    pub fn role(&self, token: &str) -> Option<Role> {
        self.0.get(token).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Role)> {
        self.0.iter()
    }
}
