//! The OpenCL probe (`opencl` builds): every platform the ICD loader knows and every device on
//! it, for `parlab detect` and for the `opencl` backend's choice of device.
//!
//! Platforms are counted with `clGetPlatformIDs` directly: `ocl`'s own listing sleeps and retries
//! for ten seconds when the loader finds no platform, and "none here" must be a quick answer.

use super::{Gpu, Machine};

/// The API name recorded for OpenCL devices in [`Machine::gpus`].
pub const API: &str = "opencl";

/// Why this build or machine has no OpenCL device to offer, in the words a case's
/// `unavailable` reason uses.
pub fn unavailable_reason(found: &Result<Vec<Gpu>, String>) -> Option<String> {
    match found {
        Ok(devices) if devices.is_empty() => {
            Some("no OpenCL device: the platforms the ICD loader found have no device".into())
        }
        Ok(_) => None,
        Err(why) => Some(format!("no OpenCL device: {why}")),
    }
}

/// Runs the OpenCL probe into `m` when this build has OpenCL: each device joins `m.gpus`, and
/// `"gpu"` joins `m.probed`; what failed goes to `m.notes`.
pub fn probe(m: &mut Machine) {
    if !cfg!(feature = "opencl") {
        return;
    }
    if !m.probed.iter().any(|p| p == "gpu") {
        m.probed.push("gpu".into());
    }
    match devices() {
        Ok(found) => m.gpus.extend(found),
        Err(why) => m.notes.push(format!("no OpenCL device: {why}")),
    }
}

/// The first OpenCL device (of the first platform that has one), found once per process: a
/// case planned without a device runs there; `Err` says why there is none, and is why every
/// OpenCL case is `unavailable`.
pub fn chosen() -> &'static Result<Gpu, String> {
    static CHOSEN: std::sync::OnceLock<Result<Gpu, String>> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| match listed() {
        Ok(found) if !found.is_empty() => Ok(found[0].clone()),
        found => Err(unavailable_reason(found).expect("no device")),
    })
}

/// Every OpenCL device ([`devices`]), found once per process.
pub fn listed() -> &'static Result<Vec<Gpu>, String> {
    static LISTED: std::sync::OnceLock<Result<Vec<Gpu>, String>> = std::sync::OnceLock::new();
    LISTED.get_or_init(devices)
}

/// A driver's error as one line: `ocl` frames its errors in a banner over several lines
/// (`####### OPENCL ERROR #######`, blank lines, a link to the specification); the status and
/// the function that failed are what a reader needs.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("###") && !l.starts_with("Please visit") && !l.starts_with("http")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every OpenCL device of every platform, described; `Err` with the loader's reason when there
/// is no platform (or the build has no OpenCL).
pub fn devices() -> Result<Vec<Gpu>, String> {
    #[cfg(feature = "opencl")]
    {
        let mut tries = Vec::new();
        for platform in platforms()? {
            let pname = platform.name().unwrap_or_else(|e| format!("(unnamed: {e})"));
            let devices =
                ocl::Device::list_all(platform).map_err(|e| format!("listing devices of {pname}: {e}"))?;
            for d in devices {
                tries
                    .push(describe(&pname, &d).map_err(|e| {
                        format!("describing a device of {pname}: {}", one_line(&e.to_string()))
                    }));
            }
        }
        super::described(tries)
    }
    #[cfg(not(feature = "opencl"))]
    Err("built without the opencl feature".into())
}

/// The platforms the ICD loader reports, or why there are none.
#[cfg(feature = "opencl")]
pub fn platforms() -> Result<Vec<ocl::Platform>, String> {
    use ocl::core::ffi::{clGetPlatformIDs, cl_platform_id, cl_uint};
    // CL_PLATFORM_NOT_FOUND_KHR: the loader found no vendor driver (no ICD file).
    const NOT_FOUND: i32 = -1001;
    let mut count: cl_uint = 0;
    // SAFETY: a query of the count only, into a local.
    let code = unsafe { clGetPlatformIDs(0, std::ptr::null_mut(), &mut count) };
    if code == NOT_FOUND || (code == 0 && count == 0) {
        return Err("the OpenCL ICD loader found no platform (no vendor driver is installed: a GPU's, or \
                    pocl-opencl-icd for the CPU)"
            .into());
    }
    if code != 0 {
        return Err(format!("clGetPlatformIDs failed with OpenCL error {code}"));
    }
    let mut ids: Vec<cl_platform_id> = vec![std::ptr::null_mut(); count as usize];
    // SAFETY: `ids` has room for `count` platforms.
    let code = unsafe { clGetPlatformIDs(count, ids.as_mut_ptr(), &mut count) };
    if code != 0 {
        return Err(format!("clGetPlatformIDs failed with OpenCL error {code}"));
    }
    ids.truncate(count as usize);
    // SAFETY: the ids were just returned by the loader.
    Ok(ids.into_iter().map(|id| ocl::Platform::new(unsafe { ocl::core::PlatformId::from_raw(id) })).collect())
}

/// The device [`chosen`] describes, as handles to run on.
#[cfg(feature = "opencl")]
pub fn first_device() -> Result<(ocl::Platform, ocl::Device), String> {
    handles()?
        .into_iter()
        .next()
        .ok_or_else(|| "no OpenCL device: the platforms the ICD loader found have no device".into())
}

/// Every device of every platform as handles to run on, in the order [`devices`] lists them.
#[cfg(feature = "opencl")]
pub fn handles() -> Result<Vec<(ocl::Platform, ocl::Device)>, String> {
    let mut out = Vec::new();
    for platform in platforms()? {
        for d in ocl::Device::list_all(platform).map_err(|e| e.to_string())? {
            out.push((platform, d));
        }
    }
    Ok(out)
}

/// The `ordinal`-th device named `name` (0: the first), as handles to run on; `None` when it
/// is not here.
#[cfg(feature = "opencl")]
pub fn find(name: &str, ordinal: usize) -> Result<Option<(ocl::Platform, ocl::Device)>, String> {
    let named = handles()?
        .into_iter()
        .filter(|(_, d)| d.name().map(|n| n.trim() == name).unwrap_or(false))
        .nth(ordinal);
    Ok(named)
}

/// The device's whole version string (`CL_DEVICE_VERSION`, e.g. `"OpenCL 3.0 PoCL 3.1 ..."`):
/// `ocl` parses it down to the numbers.
#[cfg(feature = "opencl")]
fn version(d: &ocl::Device) -> Result<String, ocl::Error> {
    const CL_DEVICE_VERSION: u32 = 0x102F;
    let raw = d.info_raw(CL_DEVICE_VERSION)?;
    Ok(String::from_utf8_lossy(&raw).trim_end_matches('\0').trim().to_string())
}

/// One device as `detect` lists it.
#[cfg(feature = "opencl")]
pub fn describe(platform: &str, d: &ocl::Device) -> Result<Gpu, ocl::Error> {
    use ocl::enums::{DeviceInfo as I, DeviceInfoResult as R};
    use ocl::flags::DeviceType;
    let kind = match d.info(I::Type)? {
        R::Type(t) if t.contains(DeviceType::GPU) => "gpu",
        R::Type(t) if t.contains(DeviceType::CPU) => "cpu",
        R::Type(t) if t.contains(DeviceType::ACCELERATOR) => "accelerator",
        _ => "other",
    };
    let int = |info| -> Result<u64, ocl::Error> {
        Ok(match d.info(info)? {
            R::MaxComputeUnits(n) => n as u64,
            R::GlobalMemSize(n) | R::GlobalMemCacheSize(n) => n,
            R::MaxWorkGroupSize(n) => n as u64,
            _ => 0,
        })
    };
    // CL_DEVICE_DOUBLE_FP_CONFIG is empty on a device without fp64 (OpenCL 1.2 and later); an
    // OpenCL 1.0 or 1.1 device without fp64 may refuse the query instead, which says the same.
    let fp64 = matches!(d.info(I::DoubleFpConfig), Ok(R::DoubleFpConfig(c)) if !c.is_empty());
    Ok(Gpu {
        name: d.name()?.trim().to_string(),
        api: API.into(),
        memory_bytes: int(I::GlobalMemSize)?,
        platform: Some(platform.trim().to_string()),
        kind: Some(kind.into()),
        compute_units: Some(int(I::MaxComputeUnits)?),
        cache_bytes: Some(int(I::GlobalMemCacheSize)?),
        max_work_group_size: Some(int(I::MaxWorkGroupSize)?),
        version: Some(version(d)?),
        fp64: Some(fp64),
        cuda: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_error_banner_becomes_one_line() {
        let banner = "\n\n####### OPENCL ERROR ####### \n\nError executing function: clCreateBuffer  \n\n\
                      Status error code: CL_INVALID_BUFFER_SIZE (-61)  \n\n\
                      Please visit the following url for more information: \n\n\
                      https://www.khronos.org/registry/cl/sdk/1.2/docs/man/xhtml/clCreateBuffer.html#errors  \n\n";
        assert_eq!(
            one_line(banner),
            "Error executing function: clCreateBuffer; Status error code: CL_INVALID_BUFFER_SIZE (-61)"
        );
    }

    #[test]
    fn one_device_that_will_not_describe_itself_hides_no_other() {
        // The reviews' finding (OpenCL and CUDA alike): one failed query made the whole listing
        // an error, and every device case `unavailable`.
        let gpu = |name: &str| Gpu {
            name: name.into(),
            api: API.into(),
            memory_bytes: 1 << 30,
            platform: None,
            kind: None,
            compute_units: None,
            cache_bytes: None,
            max_work_group_size: None,
            version: None,
            fp64: None,
            cuda: None,
        };
        let listed = super::super::described(vec![Err("describing device 0: refused".into()), Ok(gpu("B"))]);
        assert_eq!(listed.unwrap().iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["B"]);
        let none = super::super::described(vec![Err("a: refused".into()), Err("b: refused".into())]);
        assert_eq!(none.unwrap_err(), "a: refused; b: refused");
        assert_eq!(super::super::described(Vec::new()).unwrap(), Vec::<Gpu>::new());
    }

    #[test]
    fn detect_lists_every_field_of_a_device() {
        let g = Gpu {
            name: "Tiny GPU".into(),
            api: API.into(),
            memory_bytes: 2 << 30,
            platform: Some("Vendor CL".into()),
            kind: Some("gpu".into()),
            compute_units: Some(8),
            cache_bytes: Some(1 << 20),
            max_work_group_size: Some(256),
            version: Some("OpenCL 1.2 vendor".into()),
            fp64: Some(false),
            cuda: None,
        };
        assert_eq!(
            g.line(),
            "Tiny GPU: opencl, platform Vendor CL, gpu, 8 compute units, 2 GiB global memory, \
             1 MiB global-memory cache, work-groups up to 256, OpenCL 1.2 vendor, no fp64"
        );
    }

    #[test]
    fn the_reason_says_what_is_missing() {
        assert_eq!(
            unavailable_reason(&Ok(Vec::new())).unwrap(),
            "no OpenCL device: the platforms the ICD loader found have no device"
        );
        assert_eq!(
            unavailable_reason(&Err("the loader is sad".into())).unwrap(),
            "no OpenCL device: the loader is sad"
        );
        let found = devices();
        if cfg!(feature = "opencl") {
            // Here or not, the probe answers without panicking; a device it finds is described.
            for g in found.iter().flatten() {
                assert_eq!(g.api, API);
                assert!(g.compute_units.unwrap() > 0 && g.memory_bytes > 0, "{g:?}");
            }
        } else {
            assert_eq!(found, Err("built without the opencl feature".into()));
        }
    }
}
