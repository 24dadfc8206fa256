//! The uid/gid a container runs as: the pod's runAsUser/runAsGroup, else
//! the image's USER, resolved against the image's /etc/passwd and
//! /etc/group like containerd's WithUser and WithAdditionalGIDs.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// /etc/passwd lines `name:x:uid:gid:gecos:home:shell`; bad lines skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// /etc/group lines `name:x:gid:member,member`.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .unwrap_or(&"")
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The inputs: the image's `User` and the pod/container security context.
#[derive(Debug, Clone, Default)]
pub struct UserRequest {
    pub image_user: String,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub supplemental_groups: Vec<i64>,
    pub fs_group: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, sorted, including the primary gid.
    pub additional_gids: Vec<u32>,
    /// From passwd when the user is listed there (for $HOME).
    pub home: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("no users found")]
    NoUsers,
    #[error("no groups found")]
    NoGroups,
    #[error("invalid USER value {0}")]
    Invalid(String),
    #[error("id {0} out of range")]
    OutOfRange(i64),
}

/// Resolves the user; `passwd`/`group` are the rootfs files (None when
/// absent).
pub fn resolve_user(
    req: &UserRequest,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();

    // containerd's user string: runAsUser replaces the image user (and
    // drops its group); runAsGroup replaces the group part.
    let (image_u, image_g) = match req.image_user.split(':').collect::<Vec<_>>().as_slice() {
        [u] => (u.to_string(), None),
        [u, g] => (u.to_string(), Some(g.to_string())),
        _ => return Err(UserError::Invalid(req.image_user.clone())),
    };
    let user_part = match req.run_as_user {
        Some(u) => u.to_string(),
        None => image_u,
    };
    let group_part = match (req.run_as_group, req.run_as_user) {
        (Some(g), _) => Some(g.to_string()),
        (None, Some(_)) => None,
        (None, None) => image_g,
    };

    let (uid, mut gid, entry) = if user_part.is_empty() {
        (0, 0, users.iter().find(|u| u.uid == 0))
    } else if let Ok(n) = user_part.parse::<i64>() {
        let uid = id(n)?;
        let e = users.iter().find(|u| u.uid == uid);
        (uid, e.map(|e| e.gid).unwrap_or(0), e)
    } else {
        let e = users
            .iter()
            .find(|u| u.name == user_part)
            .ok_or(UserError::NoUsers)?;
        (e.uid, e.gid, Some(e))
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<i64>() {
            Ok(n) => id(n)?,
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or(UserError::NoGroups)?,
        };
    }

    let mut extra: BTreeSet<u32> = BTreeSet::new();
    extra.insert(gid);
    if let Some(name) = entry.map(|e| e.name.as_str()) {
        for g in &groups {
            if g.name != name && g.members.iter().any(|m| m == name) {
                extra.insert(g.gid);
            }
        }
    }
    for g in req.supplemental_groups.iter().chain(req.fs_group.iter()) {
        extra.insert(id(*g)?);
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: extra.into_iter().collect(),
        home: entry.map(|e| e.home.clone()).filter(|h| !h.is_empty()),
    })
}

fn id(n: i64) -> Result<u32, UserError> {
    u32::try_from(n).map_err(|_| UserError::OutOfRange(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
curl_user:x:100:101:Linux User,,,:/home/curl_user:/sbin/nologin
# comment
broken line
";
    const GROUP: &str = "\
root:x:0:
nogroup:x:65534:
curl_group:x:101:
wheel:x:10:root,curl_user
audio:x:29:curl_user
";

    fn req(image_user: &str, u: Option<i64>, g: Option<i64>) -> UserRequest {
        UserRequest {
            image_user: image_user.into(),
            run_as_user: u,
            run_as_group: g,
            ..Default::default()
        }
    }

    #[test]
    fn resolution_table() {
        type Case = (UserRequest, Result<(u32, u32, Vec<u32>), UserError>);
        let cases: Vec<Case> = vec![
            (req("", None, None), Ok((0, 0, vec![0, 10]))),
            (
                req("curl_user", None, None),
                Ok((100, 101, vec![10, 29, 101])),
            ),
            (req("100", None, None), Ok((100, 101, vec![10, 29, 101]))),
            (req("100:7", None, None), Ok((100, 7, vec![7, 10, 29]))),
            (
                req("curl_user:nogroup", None, None),
                Ok((100, 65534, vec![10, 29, 65534])),
            ),
            (req("4242", None, None), Ok((4242, 0, vec![0]))),
            (req("4242:4243", None, None), Ok((4242, 4243, vec![4243]))),
            (req("curl_user", Some(1000), None), Ok((1000, 0, vec![0]))),
            (
                req("curl_user:7", Some(1000), Some(3000)),
                Ok((1000, 3000, vec![3000])),
            ),
            (
                req("curl_user", None, Some(3000)),
                Ok((100, 3000, vec![10, 29, 3000])),
            ),
            (req("ghost", None, None), Err(UserError::NoUsers)),
            (req("100:ghosts", None, None), Err(UserError::NoGroups)),
            (
                req("a:b:c", None, None),
                Err(UserError::Invalid("a:b:c".into())),
            ),
            (req("", Some(-1), None), Err(UserError::OutOfRange(-1))),
        ];
        for (r, want) in cases {
            let got = resolve_user(&r, Some(PASSWD), Some(GROUP))
                .map(|u| (u.uid, u.gid, u.additional_gids));
            assert_eq!(got, want, "{r:?}");
        }
    }

    #[test]
    fn supplemental_groups_and_home() {
        let r = UserRequest {
            image_user: "curl_user".into(),
            supplemental_groups: vec![2000, 10],
            fs_group: Some(3000),
            ..Default::default()
        };
        let u = resolve_user(&r, Some(PASSWD), Some(GROUP)).expect("resolve");
        assert_eq!(u.additional_gids, vec![10, 29, 101, 2000, 3000]);
        assert_eq!(u.home.as_deref(), Some("/home/curl_user"));
        let none = resolve_user(&req("7", None, None), None, None).expect("no files");
        assert_eq!((none.uid, none.gid, none.home), (7, 0, None));
        assert_eq!(UserError::NoUsers.to_string(), "no users found");
    }
}
