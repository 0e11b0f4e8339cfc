//! Client IP → geolocation from local MaxMind-format databases. Looked up once per new session.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{geoip2, Reader};
use serde::{Deserialize, Serialize};

use crate::config::GeoConfig;

/// The `Geo` shape of 20-users §1.6.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Geo {
    pub city: Option<String>,
    pub region_name: Option<String>,
    pub country_code: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub isp: Option<String>,
    pub org: Option<String>,
    pub is_mobile: Option<bool>,
    pub is_proxy: Option<bool>,
    pub is_hosting: Option<bool>,
}

#[derive(Default)]
pub struct GeoReader {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    anonymous_ip: Option<Reader<Vec<u8>>>,
    connection_type: Option<Reader<Vec<u8>>>,
}

fn open(path: &Option<std::path::PathBuf>, key: &str) -> Result<Option<Reader<Vec<u8>>>, String> {
    path.as_deref()
        .map(|p: &Path| Reader::open_readfile(p).map_err(|e| format!("{key}: cannot open {}: {e}", p.display())))
        .transpose()
}

impl GeoReader {
    pub fn open(config: &GeoConfig) -> Result<GeoReader, String> {
        if config.provider != "mmdb" {
            return Ok(GeoReader::default());
        }
        Ok(GeoReader {
            city: open(&config.city_db, "geo.city_db")?,
            asn: open(&config.asn_db, "geo.asn_db")?,
            anonymous_ip: open(&config.anonymous_ip_db, "geo.anonymous_ip_db")?,
            connection_type: open(&config.connection_type_db, "geo.connection_type_db")?,
        })
    }

    /// `None` for non-public addresses, with no database, or when no database knows the address.
    pub fn lookup(&self, ip: IpAddr) -> Option<Geo> {
        if self.city.is_none() || !is_public(ip) {
            return None;
        }
        let mut geo = Geo::default();
        let mut found = false;
        if let Some(city) = self.city.as_ref().and_then(|r| r.lookup::<geoip2::City>(ip).ok()) {
            found = true;
            let english = |names: Option<&std::collections::BTreeMap<&str, &str>>| {
                names.and_then(|n| n.get("en")).map(|s| s.to_string())
            };
            geo.city = city.city.as_ref().and_then(|c| english(c.names.as_ref()));
            geo.region_name = city
                .subdivisions
                .as_ref()
                .and_then(|s| s.first())
                .and_then(|s| english(s.names.as_ref()));
            geo.country_code = city
                .country
                .as_ref()
                .and_then(|c| c.iso_code)
                .map(|c| c.to_ascii_uppercase());
            geo.lat = city.location.as_ref().and_then(|l| l.latitude);
            geo.lon = city.location.as_ref().and_then(|l| l.longitude);
        }
        if let Some(asn) = self.asn.as_ref().and_then(|r| r.lookup::<geoip2::Isp>(ip).ok()) {
            found = true;
            let as_org = asn.autonomous_system_organization.map(str::to_owned);
            geo.isp = asn.isp.map(str::to_owned).or_else(|| as_org.clone());
            geo.org = asn.organization.map(str::to_owned).or(as_org);
        }
        if let Some(anon) = self
            .anonymous_ip
            .as_ref()
            .and_then(|r| r.lookup::<geoip2::AnonymousIp>(ip).ok())
        {
            found = true;
            let any = [
                anon.is_anonymous,
                anon.is_anonymous_vpn,
                anon.is_public_proxy,
                anon.is_tor_exit_node,
                anon.is_residential_proxy,
            ]
            .iter()
            .any(|f| f.unwrap_or(false));
            geo.is_proxy = Some(any);
            geo.is_hosting = Some(anon.is_hosting_provider.unwrap_or(false));
        }
        if let Some(conn) = self
            .connection_type
            .as_ref()
            .and_then(|r| r.lookup::<geoip2::ConnectionType>(ip).ok())
        {
            found = true;
            geo.is_mobile = Some(conn.connection_type == Some("Cellular"));
        }
        found.then_some(geo)
    }
}

/// Loopback, private, link-local, shared and unspecified addresses have no location.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}
