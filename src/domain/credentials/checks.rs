//! Shapes of the non-secret fields: AWS regions, access key ids, Google locations, Azure
//! hosts and API versions, and the one-per-line lists.

use super::Deployment;

const AWS_DIRECTIONS: &[&str] = &[
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-3`, `us-isob-east-1`, ...
pub fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let (geo, partition, direction, number) = match parts.as_slice() {
        [g, d, n] => (*g, None, *d, *n),
        [g, p, d, n] => (*g, Some(*p), *d, *n),
        _ => return false,
    };
    geo.len() == 2
        && geo.bytes().all(|b| b.is_ascii_lowercase())
        && partition.is_none_or(|p| matches!(p, "gov" | "iso" | "isob" | "isoe" | "isof"))
        && AWS_DIRECTIONS.contains(&direction)
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}

/// `AKIA` (long-term) or `ASIA` (temporary) and 16 upper-case letters or digits.
pub fn is_access_key_id(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// 40 characters of base64's alphabet, as AWS issues them.
pub fn is_aws_secret_shape(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `global`, or a Google Cloud region such as `us-central1`, `europe-west4`,
/// `northamerica-northeast1`.
pub fn is_google_location(s: &str) -> bool {
    if s == "global" {
        return true;
    }
    let Some((area, rest)) = s.split_once('-') else {
        return false;
    };
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let word = &rest[..rest.len() - digits.len()];
    (2..=20).contains(&area.len())
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && (4..=12).contains(&word.len())
        && (1..=2).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Azure OpenAI's resource hosts (SPEC §11).
pub fn is_azure_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    [
        ".openai.azure.com",
        ".cognitiveservices.azure.com",
        ".services.ai.azure.com",
    ]
    .iter()
    .any(|suffix| {
        host.strip_suffix(suffix).is_some_and(|name| {
            !name.is_empty()
                && !name.contains('.')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    })
}

/// `2024-10-21` or `2025-01-01-preview`.
pub fn is_azure_api_version(s: &str) -> bool {
    let date = s.strip_suffix("-preview").unwrap_or(s);
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn is_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_graphic())
}

/// The non-empty trimmed lines of a text area.
pub fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Azure deployments, one per line: `model=deployment` or a bare deployment name.
pub fn parse_deployments(s: &str) -> Result<Vec<Deployment>, String> {
    let mut out: Vec<Deployment> = Vec::new();
    for (n, line) in lines(s).enumerate() {
        let (model, deployment) = match line.split_once('=') {
            Some((m, d)) => (m.trim(), d.trim()),
            None => (line, line),
        };
        let deployment_ok = !deployment.is_empty()
            && deployment.len() <= 64
            && deployment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !is_name(model, 200) || !deployment_ok {
            return Err(format!(
                "Line {} of Deployments is not `model=deployment` or a deployment name \
                 (letters, digits, - _ . without spaces).",
                n + 1
            ));
        }
        if out.iter().any(|d| d.model == model) {
            return Err(format!(
                "Line {} of Deployments names a model already listed above.",
                n + 1
            ));
        }
        out.push(Deployment {
            model: model.to_owned(),
            deployment: deployment.to_owned(),
        });
        if out.len() > 200 {
            return Err("Deployments holds more than 200 lines.".into());
        }
    }
    if out.is_empty() {
        return Err("Enter at least one deployment, one per line \
                    (`gpt-4o=my-gpt4o` or the deployment name)."
            .into());
    }
    Ok(out)
}

/// Model names, one per line; repeats are dropped.
pub fn parse_models(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for (n, line) in lines(s).enumerate() {
        if !is_name(line, 200) {
            return Err(format!(
                "Line {} of Models is not a model name (one name per line, without spaces).",
                n + 1
            ));
        }
        if !out.iter().any(|m| m == line) {
            out.push(line.to_owned());
        }
        if out.len() > 500 {
            return Err("Models holds more than 500 lines.".into());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_regions_are_recognised() {
        for ok in [
            "us-east-1",
            "us-west-2",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-3",
            "ap-northeast-1",
            "ca-west-1",
            "il-central-1",
            "cn-northwest-1",
            "us-isob-east-1",
            "mx-central-1",
        ] {
            assert!(is_aws_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "us-east-x",
            "US-EAST-1",
            "useast1",
            "us-east-01",
            "us-upper-1",
            "usa-east-1",
            "us-foo-east-1",
            "us-east-1 ",
            "us-east-123",
            "us-central1",
        ] {
            assert!(!is_aws_region(bad), "{bad}");
        }
    }

    #[test]
    fn access_key_ids_have_their_shape() {
        assert!(is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(is_access_key_id("ASIAIOSFODNN7EXAMPLE"));
        for bad in [
            "AKIAIOSFODNN7EXAMPL",
            "AKIAIOSFODNN7EXAMPLEX",
            "akiaiosfodnn7example",
            "AIDAIOSFODNN7EXAMPLE",
            "AKIA-OSFODNN7EXAMPLE",
        ] {
            assert!(!is_access_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn aws_secrets_have_their_shape() {
        assert!(is_aws_secret_shape(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(!is_aws_secret_shape(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE"
        ));
        assert!(!is_aws_secret_shape(
            "wJalrXUtnFEMI-K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
    }

    #[test]
    fn google_locations_are_recognised() {
        for ok in [
            "global",
            "us-central1",
            "europe-west4",
            "asia-northeast1",
            "northamerica-northeast1",
            "australia-southeast2",
            "me-central2",
            "us-east5",
        ] {
            assert!(is_google_location(ok), "{ok}");
        }
        for bad in [
            "",
            "us-central",
            "us-east-1",
            "US-CENTRAL1",
            "uscentral1",
            "europe-west",
            "us-central123",
            "Global",
            "us-central1/x",
        ] {
            assert!(!is_google_location(bad), "{bad}");
        }
    }

    #[test]
    fn azure_hosts_are_the_resource_hosts_only() {
        for ok in [
            "my-res.openai.azure.com",
            "MY-RES.openai.azure.com.",
            "res1.cognitiveservices.azure.com",
            "res.services.ai.azure.com",
        ] {
            assert!(is_azure_host(ok), "{ok}");
        }
        for bad in [
            "openai.azure.com",
            ".openai.azure.com",
            "a.b.openai.azure.com",
            "my-res.openai.azure.com.evil.example",
            "my-res-openai.azure.com",
            "evilopenai.azure.com",
            "my_res.openai.azure.com",
            "api.openai.com",
        ] {
            assert!(!is_azure_host(bad), "{bad}");
        }
    }

    #[test]
    fn azure_api_versions_are_dates() {
        assert!(is_azure_api_version("2024-10-21"));
        assert!(is_azure_api_version("2025-01-01-preview"));
        for bad in [
            "",
            "2024-10",
            "v1",
            "2024-10-21-beta",
            "2024/10/21",
            "latest",
        ] {
            assert!(!is_azure_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn deployments_take_pairs_and_bare_names() {
        let d =
            parse_deployments("gpt-4o=prod-4o\n\n  gpt-4o-mini  \r\no1 = o1-dep\n").expect("valid");
        assert_eq!(
            d,
            vec![
                Deployment {
                    model: "gpt-4o".into(),
                    deployment: "prod-4o".into()
                },
                Deployment {
                    model: "gpt-4o-mini".into(),
                    deployment: "gpt-4o-mini".into()
                },
                Deployment {
                    model: "o1".into(),
                    deployment: "o1-dep".into()
                },
            ]
        );
    }

    #[test]
    fn bad_deployment_lines_are_named_by_number() {
        for (input, needle) in [
            ("", "at least one deployment"),
            ("ok\nmy deployment", "Line 2"),
            ("gpt-4o=", "Line 1"),
            ("=dep", "Line 1"),
            ("gpt=dep/../x", "Line 1"),
            (
                "gpt-4o=a\ngpt-4o=b",
                "Line 2 of Deployments names a model already",
            ),
        ] {
            let err = parse_deployments(input).expect_err(input);
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn models_are_one_per_line_and_may_be_empty() {
        assert_eq!(parse_models("").expect("empty"), Vec::<String>::new());
        assert_eq!(
            parse_models("llama3\n meta-llama/Llama-3-8B \nllama3\n").expect("valid"),
            vec!["llama3".to_owned(), "meta-llama/Llama-3-8B".to_owned()]
        );
        assert!(
            parse_models("a\nb c")
                .expect_err("space")
                .contains("Line 2")
        );
    }
}
