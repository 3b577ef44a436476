//! Coordinates with an explicit datum. We store WGS-84 (what OCPI and GPS use) and derive GCJ-02
//! (the datum Chinese map apps and T/CEC 102 use) with the `coordtransform` crate. Coordinates
//! are positions, not amounts, so `f64` is right here.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The datum a pair of coordinates is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datum {
    /// GPS, OCPI. What we store.
    Wgs84,
    /// The Chinese "Mars" datum of Amap, Tencent maps and T/CEC 102.
    Gcj02,
}

/// A validated WGS-84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coordinates {
    pub lat: f64,
    pub lng: f64,
}

impl Coordinates {
    /// Validates a position given in `datum` and returns it in WGS-84.
    pub fn new(lat: f64, lng: f64, datum: Datum) -> Result<Self, ValidationError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(ValidationError::new("lat", "must be between -90 and 90"));
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(ValidationError::new("lng", "must be between -180 and 180"));
        }
        let (lng, lat) = match datum {
            Datum::Wgs84 => (lng, lat),
            Datum::Gcj02 => coordtransform::gcj02_to_wgs84(lng, lat),
        };
        Ok(Self {
            lat: round6(lat),
            lng: round6(lng),
        })
    }

    /// The same place in GCJ-02, rounded to 6 decimals (~0.1 m, the precision T/CEC 102 asks
    /// for). Outside mainland China GCJ-02 equals WGS-84.
    pub fn gcj02(self) -> (f64, f64) {
        let (lng, lat) = coordtransform::wgs84_to_gcj02(self.lng, self.lat);
        (round6(lat), round6(lng))
    }

    /// Great-circle distance in metres (haversine), for `near=` searches.
    pub fn distance_m(self, other: Coordinates) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lng - self.lng).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_station_converts_to_gcj02_and_back() {
        // The published reference point: Beijing railway station.
        let c = Coordinates::new(39.90105, 116.42079, Datum::Wgs84).unwrap();
        let (lat, lng) = c.gcj02();
        assert!((lat - 39.90245).abs() < 2e-5, "{lat}");
        assert!((lng - 116.42702).abs() < 2e-5, "{lng}");
        let back = Coordinates::new(lat, lng, Datum::Gcj02).unwrap();
        assert!((back.lat - c.lat).abs() < 2e-6 && (back.lng - c.lng).abs() < 2e-6);
    }

    #[test]
    fn outside_china_gcj02_is_wgs84() {
        let paris = Coordinates::new(48.8566, 2.3522, Datum::Wgs84).unwrap();
        assert_eq!(paris.gcj02(), (48.8566, 2.3522));
    }

    #[test]
    fn out_of_range_coordinates_name_the_field() {
        assert_eq!(
            Coordinates::new(91.0, 0.0, Datum::Wgs84).unwrap_err().field,
            "lat"
        );
        assert_eq!(
            Coordinates::new(0.0, -181.0, Datum::Wgs84)
                .unwrap_err()
                .field,
            "lng"
        );
        assert_eq!(
            Coordinates::new(f64::NAN, 0.0, Datum::Wgs84)
                .unwrap_err()
                .field,
            "lat"
        );
    }

    #[test]
    fn distances_are_plausible() {
        let a = Coordinates::new(31.2304, 121.4737, Datum::Wgs84).unwrap();
        let b = Coordinates::new(31.2404, 121.4737, Datum::Wgs84).unwrap();
        let d = a.distance_m(b);
        assert!((d - 1112.0).abs() < 5.0, "{d}");
    }
}
