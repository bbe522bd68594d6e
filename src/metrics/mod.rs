//! What a drill observes of traffic, shared by every backend: windowed
//! metrics per version, and the behaviour model they are drawn from.

mod external;
mod model;
mod window;

pub use external::ExternalError;
pub use model::LatencyModel;
pub(crate) use window::bucket_of;
pub use window::{Observation, Series, TICK_MS, bucket_ms, observe, share_slower_than, tick_range};
