//! Pure rules that turn an image config plus a container spec into the
//! process to run (argv, env, cwd, user), as the kubelet and containerd do.

pub mod command;
pub mod expand;
pub mod user;

pub use command::{effective_process, ContainerProcessInput, EnvValue, Process, SpecError};
pub use expand::expand;
pub use user::{resolve_user, ResolvedUser, UserError, UserRequest};
