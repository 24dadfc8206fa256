//! The kubelet's EnsureImageExists: apply the pull policy, pull with
//! back-off, emit the same Events, and hand back what a container needs
//! from its image (layers, config, user database).

use super::{container_ref, Context};
use crate::image::policy::{self, messages, PullBackoff, PullDecision, PullPolicy};
use crate::image::{ImageConfig, ImageRecord, Reference};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

/// An image ready to run.
#[derive(Debug, Clone)]
pub struct ReadyImage {
    /// `docker.io/library/nginx@sha256:…` (containerStatuses[].imageID).
    pub image_id: String,
    pub lowerdirs: Vec<PathBuf>,
    pub config: ImageConfig,
    pub passwd: Option<String>,
    pub group: Option<String>,
}

/// Why the container waits instead of starting.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
    /// When to try again (None: on the next change of the pod).
    pub retry_at: Option<Instant>,
}

pub async fn ensure(
    ctx: &Context,
    pod: &Value,
    uid: &str,
    container: &Value,
) -> Result<ReadyImage, Waiting> {
    let image = container["image"].as_str().unwrap_or("");
    let name = container["name"].as_str().unwrap_or("");
    let cref = container_ref(pod, name);
    let reference = match Reference::parse_normalized(image) {
        Ok(r) => r,
        Err(e) => {
            let message = messages::invalid_image_name(image, &e.to_string());
            ctx.recorder
                .warning(cref, policy::EVENT_INSPECT_FAILED, message.clone());
            return Err(Waiting {
                reason: "InvalidImageName".into(),
                message,
                retry_at: None,
            });
        }
    };
    let pull_policy = PullPolicy::effective(container["imagePullPolicy"].as_str(), image);
    let present = lookup(ctx, image)?;
    let record = match policy::decide(pull_policy, present.is_some()) {
        PullDecision::UseLocal => {
            ctx.recorder
                .normal(cref, "Pulled", messages::already_present(image));
            present.ok_or_else(|| internal(image, "image vanished"))?
        }
        PullDecision::NeverPullMissing => {
            let message = messages::never_pull(image);
            ctx.recorder
                .warning(cref, "ErrImageNeverPull", message.clone());
            return Err(Waiting {
                reason: "ErrImageNeverPull".into(),
                message,
                retry_at: None,
            });
        }
        PullDecision::Pull => pull(ctx, uid, image, &reference, cref).await?,
    };
    let images = ctx.images.clone();
    let unpacked = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let lowerdirs = images.rootfs_layers(&record).map_err(|e| e.to_string())?;
        let config = images
            .config(&record)
            .map_err(|e| e.to_string())?
            .config
            .unwrap_or_default();
        let passwd = read_from_layers(&lowerdirs, "etc/passwd");
        let group = read_from_layers(&lowerdirs, "etc/group");
        Ok((record.repo_digest(), lowerdirs, config, passwd, group))
    })
    .await
    .map_err(|e| internal(image, &e.to_string()))?
    .map_err(|e| internal(image, &e))?;
    let (image_id, lowerdirs, config, passwd, group) = unpacked;
    Ok(ReadyImage {
        image_id,
        lowerdirs,
        config,
        passwd,
        group,
    })
}

fn lookup(ctx: &Context, image: &str) -> Result<Option<ImageRecord>, Waiting> {
    ctx.images
        .get(image)
        .map_err(|e| internal(image, &e.to_string()))
}

fn internal(image: &str, err: &str) -> Waiting {
    Waiting {
        reason: "CreateContainerError".into(),
        message: format!("image {image}: {err}"),
        retry_at: Some(Instant::now() + std::time::Duration::from_secs(5)),
    }
}

async fn pull(
    ctx: &Context,
    uid: &str,
    image: &str,
    reference: &Reference,
    cref: k1s_controllers::events::ObjectRef,
) -> Result<ImageRecord, Waiting> {
    let key = PullBackoff::key(uid, image);
    let now = Instant::now();
    {
        let backoff = ctx.pull_backoff.lock().unwrap_or_else(|e| e.into_inner());
        if backoff.in_backoff(&key, now) {
            let wait = backoff.current(&key);
            drop(backoff);
            ctx.recorder
                .normal(cref, policy::EVENT_BACK_OFF, messages::back_off(image));
            return Err(Waiting {
                reason: "ImagePullBackOff".into(),
                message: messages::back_off(image),
                retry_at: Some(now + wait),
            });
        }
    }
    ctx.recorder
        .normal(cref.clone(), "Pulling", messages::pulling(image));
    let started = Instant::now();
    match ctx.images.pull(image).await {
        Ok(pulled) => {
            let took = started.elapsed();
            ctx.recorder.normal(
                cref,
                "Pulled",
                messages::pulled(image, took, took, pulled.record.size),
            );
            ctx.pull_backoff
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .reset(&key);
            Ok(pulled.record)
        }
        Err(e) => {
            let wait = {
                let mut backoff = ctx.pull_backoff.lock().unwrap_or_else(|e| e.into_inner());
                backoff.next(&key, Instant::now());
                backoff.current(&key)
            };
            let message = policy::pull_error_message(reference, &e);
            ctx.recorder.warning(
                cref.clone(),
                "Failed",
                messages::failed_to_pull(image, &message),
            );
            ctx.recorder
                .warning(cref, "Failed", messages::error_event("ErrImagePull"));
            Err(Waiting {
                reason: "ErrImagePull".into(),
                message,
                retry_at: Some(Instant::now() + wait),
            })
        }
    }
}

/// A file of the image's root filesystem: the topmost layer that has it
/// (layers are ordered topmost first).
fn read_from_layers(lowerdirs: &[PathBuf], path: &str) -> Option<String> {
    lowerdirs
        .iter()
        .map(|l| l.join(path))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok())
}
