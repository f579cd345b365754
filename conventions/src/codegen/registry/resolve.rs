//! Resolving the groups read from a registry's files: attributes by id,
//! `ref`s against the registry and its dependencies, `extends` chains and
//! the requirement levels each group ends up with.

use super::parse::{Cx, RawGroup, loc};
use super::{Attribute, Diagnostic, Group, Metric, Registry};
use crate::model::RequirementLevel;
use std::collections::{BTreeMap, HashMap};

impl Cx {
    pub(super) fn resolve(&mut self, deps: &[&'static crate::model::Registry]) -> Registry {
        // Attributes by id; duplicates reported against the first definition.
        let mut attributes: BTreeMap<String, Attribute> = BTreeMap::new();
        let raw = std::mem::take(&mut self.raw_groups);
        for (_, defs) in &raw {
            for def in defs {
                if let Some(first) = attributes.get(&def.id) {
                    let message = format!(
                        "duplicate attribute id `{}`, first defined at {}",
                        def.id, first.location
                    );
                    self.diagnostics.push(Diagnostic {
                        location: def.location.clone(),
                        message,
                    });
                } else if let Some(dep) = deps.iter().find(|d| d.attribute(&def.id).is_some()) {
                    let message = format!(
                        "attribute `{}` is already defined by the `{}` registry: use `ref: {}`",
                        def.id, dep.name, def.id
                    );
                    self.diagnostics.push(Diagnostic {
                        location: def.location.clone(),
                        message,
                    });
                } else {
                    attributes.insert(def.id.clone(), def.clone());
                }
            }
        }
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, (g, _)) in raw.iter().enumerate() {
            if let Some(&first) = by_id.get(g.id.as_str()) {
                let f = &raw[first].0;
                let message = format!(
                    "duplicate group id `{}`, first defined at {}",
                    g.id,
                    loc(&f.file, f.pos)
                );
                self.error(&g.file, g.pos, message);
            } else {
                by_id.insert(&g.id, i);
            }
        }
        // Refs.
        for (g, _) in &raw {
            for e in g.entries.iter().filter(|e| e.is_ref) {
                let known = attributes.contains_key(&e.id)
                    || deps.iter().any(|d| d.attribute(&e.id).is_some());
                if !known {
                    let hint = crate::suggest(&e.id, attributes.keys().map(String::as_str))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        &g.file,
                        e.pos,
                        format!(
                            "unknown attribute `{}` in `ref` of group `{}`{hint}",
                            e.id, g.id
                        ),
                    );
                }
            }
            if let Some((ext, pos)) = &g.extends
                && !by_id.contains_key(ext.as_str())
            {
                self.error(
                    &g.file,
                    *pos,
                    format!("group `{}` extends unknown group `{ext}`", g.id),
                );
            }
        }
        // Effective attributes through `extends`.
        let mut memo: HashMap<usize, Vec<(String, RequirementLevel)>> = HashMap::new();
        let mut groups = Vec::with_capacity(raw.len());
        let mut metrics: BTreeMap<String, Metric> = BTreeMap::new();
        for i in 0..raw.len() {
            let mut visiting = Vec::new();
            let attrs = self.effective(&raw, &by_id, i, &mut memo, &mut visiting);
            let g = &raw[i].0;
            groups.push(Group {
                id: g.id.clone(),
                kind: g.kind,
                attributes: attrs.clone(),
                location: loc(&g.file, g.pos),
            });
            if let Some(m) = &g.metric {
                if let Some(first) = metrics.get(&m.name) {
                    let message = format!(
                        "duplicate metric name `{}`, first defined at {}",
                        m.name, first.location
                    );
                    self.diagnostics.push(Diagnostic {
                        location: m.location.clone(),
                        message,
                    });
                    continue;
                }
                let mut m = m.clone();
                m.attributes = attrs;
                metrics.insert(m.name.clone(), m);
            }
        }
        Registry {
            name: String::new(),
            version: String::new(),
            schema_url: None,
            dependencies: Vec::new(),
            files: 0,
            groups,
            attributes: attributes.into_values().collect(),
            metrics: metrics.into_values().collect(),
        }
    }

    fn effective(
        &mut self,
        raw: &[(RawGroup, Vec<Attribute>)],
        by_id: &HashMap<&str, usize>,
        i: usize,
        memo: &mut HashMap<usize, Vec<(String, RequirementLevel)>>,
        visiting: &mut Vec<usize>,
    ) -> Vec<(String, RequirementLevel)> {
        if let Some(done) = memo.get(&i) {
            return done.clone();
        }
        let g = &raw[i].0;
        let mut map: BTreeMap<String, RequirementLevel> = BTreeMap::new();
        if let Some((ext, pos)) = &g.extends
            && let Some(&parent) = by_id.get(ext.as_str())
        {
            if visiting.contains(&parent) || parent == i {
                self.error(
                    &g.file,
                    *pos,
                    format!("`extends` cycle through group `{ext}`"),
                );
            } else {
                visiting.push(i);
                for (id, r) in self.effective(raw, by_id, parent, memo, visiting) {
                    map.insert(id, r);
                }
                visiting.pop();
            }
        }
        for e in &g.entries {
            let level = e
                .requirement
                .or_else(|| map.get(&e.id).copied())
                .unwrap_or(RequirementLevel::Recommended);
            map.insert(e.id.clone(), level);
        }
        let out: Vec<_> = map.into_iter().collect();
        memo.insert(i, out.clone());
        out
    }
}
