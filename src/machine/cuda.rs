//! The CUDA probe (`cuda` builds): every device the CUDA driver reports, for `parlab detect`, the
//! results' machine section and the `cuda` backend's choice of device; clocks from NVML where
//! it is installed.
//!
//! Nothing CUDA is linked: `cudarc` loads `libcuda` and `libnvrtc`, and `nvml-wrapper` loads
//! `libnvidia-ml`, when first asked. `cudarc` panics on a call into a library it cannot load, so
//! every path here asks [`driver_library`] (and the backend [`nvrtc_library`]) first and turns an
//! absent library into the reason a case is `unavailable`.
//!
//! Two derived figures follow the conventions of the tools parlab is checked against:
//! - the theoretical peak memory bandwidth is `2 x memory clock x bus width / 8` (double data
//!   rate), as BabelStream and the CUDA samples compute it from the driver's attributes;
//! - a case is *throttled* when the SM clock NVML reports is under 75% of the device's default
//!   SM clock (`CU_DEVICE_ATTRIBUTE_CLOCK_RATE`), nvbench's rule for discarding a measurement.

use serde::{Deserialize, Serialize};

use super::{Gpu, Machine};

/// The API name recorded for CUDA devices in [`Machine::gpus`].
pub const API: &str = "cuda";

/// nvbench's throttle threshold: an SM clock under this fraction of the default one.
pub const THROTTLE_FRACTION: f64 = 0.75;

/// What the CUDA driver (and NVML, where present) says about a device beyond [`Gpu`]'s common
/// fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CudaDevice {
    /// The driver's device number (`CUDA_VISIBLE_DEVICES` order).
    pub ordinal: usize,
    /// `"major.minor"`, e.g. `"9.0"`.
    pub compute_capability: String,
    /// The CUDA version the driver supports, e.g. `"12.8"` (`cuDriverGetVersion`).
    pub driver_version: String,
    /// `"domain:bus:device.0"`, as NVML names the device.
    pub pci_bus_id: String,
    /// The default SM clock (`CU_DEVICE_ATTRIBUTE_CLOCK_RATE`), kHz: the throttle rule's base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_khz: Option<u64>,
    /// The peak memory clock (`CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE`), kHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_clock_khz: Option<u64>,
    /// The global-memory bus width, bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bus_bits: Option<u64>,
    /// [`peak_bandwidth`] of the two above, bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_bandwidth_bytes_per_s: Option<f64>,
    /// NVML's clocks at detection time; absent where NVML is not installed or not supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvml: Option<NvmlClocks>,
}

/// A device's clocks as NVML reports them, MHz.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NvmlClocks {
    /// The SM clock now.
    pub sm_mhz: u32,
    /// The highest SM clock the device may run at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_max_mhz: Option<u32>,
    /// The memory clock now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mhz: Option<u32>,
    /// Why the clocks are held down now (`gpu_idle`, `sw_power_cap`, ...); empty: nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_reasons: Vec<String>,
}

impl CudaDevice {
    /// The CUDA part of a `parlab detect` line.
    pub fn describe(&self) -> Vec<String> {
        let mut parts = vec![
            format!("compute capability {}", self.compute_capability),
            format!("CUDA driver {}", self.driver_version),
        ];
        if let Some(khz) = self.sm_clock_khz {
            parts.push(format!("SM clock {} MHz", khz / 1000));
        }
        if let (Some(khz), Some(bits)) = (self.memory_clock_khz, self.memory_bus_bits) {
            let peak = self.peak_bandwidth_bytes_per_s.map(|b| format!(", peak {:.0} GB/s", b / 1e9));
            parts.push(format!("memory {} MHz x {bits}-bit bus{}", khz / 1000, peak.unwrap_or_default()));
        }
        if let Some(n) = &self.nvml {
            let mut s = format!("NVML: SM {} MHz now", n.sm_mhz);
            if let Some(max) = n.sm_max_mhz {
                s.push_str(&format!(" (max {max})"));
            }
            if let Some(m) = n.memory_mhz {
                s.push_str(&format!(", memory {m} MHz"));
            }
            if !n.throttle_reasons.is_empty() {
                s.push_str(&format!(", held down by {}", n.throttle_reasons.join(" + ")));
            }
            parts.push(s);
        }
        parts
    }
}

/// The theoretical peak bandwidth of a memory clocked at `memory_clock_khz` on a bus of
/// `bus_bits`, bytes per second: two transfers per clock (double data rate), `bus_bits / 8`
/// bytes each. `None` when the driver reports either as zero (integrated or emulated devices).
pub fn peak_bandwidth(memory_clock_khz: u64, bus_bits: u64) -> Option<f64> {
    if memory_clock_khz == 0 || bus_bits == 0 {
        return None;
    }
    Some(2.0 * memory_clock_khz as f64 * 1e3 * bus_bits as f64 / 8.0)
}

/// Whether an SM clock of `sm_mhz` is under [`THROTTLE_FRACTION`] of the default clock of
/// `default_khz` (nvbench's rule). `false` when the default is unknown (zero).
pub fn throttled(sm_mhz: u32, default_khz: u64) -> bool {
    default_khz > 0 && (sm_mhz as f64 * 1e3) < THROTTLE_FRACTION * default_khz as f64
}

/// The case note that says how the SM clock stood at the start of a case and at its lowest
/// right after a sample (read then, not after verification, when an idle GPU has lowered its
/// clock for want of work), and flags a throttled one. `None` without NVML readings.
pub fn clock_note(start_mhz: Option<u32>, end_mhz: Option<u32>, default_khz: Option<u64>) -> Option<String> {
    let (start, end) = (start_mhz?, end_mhz?);
    let base = default_khz.filter(|&k| k > 0);
    let mut note =
        format!("SM clock {start} MHz at the start of the case, {end} MHz at its lowest after a sample");
    match base {
        Some(khz) => note.push_str(&format!(" (default {} MHz)", khz / 1000)),
        None => note.push_str(" (the driver reports no default clock to compare with)"),
    }
    if let Some(khz) = base {
        let low = start.min(end);
        if throttled(low, khz) {
            note = format!(
                "throttled: {note}; {low} MHz is under {:.0}% of the default, nvbench's rule for a \
                 measurement not to trust",
                THROTTLE_FRACTION * 100.0
            );
        }
    }
    Some(note)
}

/// `"major.minor"` of a `cuDriverGetVersion` number (`12080` is `"12.8"`).
pub fn version_text(version: i32) -> String {
    format!("{}.{}", version / 1000, (version % 1000) / 10)
}

/// Why this build or machine has no CUDA device to offer, in the words a case's `unavailable`
/// reason uses.
pub fn unavailable_reason(found: &Result<Vec<Gpu>, String>) -> Option<String> {
    match found {
        Ok(devices) if devices.is_empty() => Some("no CUDA device: the driver reports none".into()),
        Ok(_) => None,
        Err(why) => Some(format!("no CUDA device: {why}")),
    }
}

/// Runs the CUDA probe into `m` when this build has CUDA: each device joins `m.gpus`, and
/// `"gpu"` joins `m.probed`; what failed goes to `m.notes`.
pub fn probe(m: &mut Machine) {
    if !cfg!(feature = "cuda") {
        return;
    }
    if !m.probed.iter().any(|p| p == "gpu") {
        m.probed.push("gpu".into());
    }
    match devices() {
        Ok(found) => {
            if !found.is_empty() {
                if let Err(why) = nvml() {
                    m.notes.push(format!("no NVML clocks for the CUDA devices: {why}"));
                }
            }
            m.gpus.extend(found)
        }
        Err(why) => m.notes.push(format!("no CUDA device: {why}")),
    }
}

/// Every CUDA device, found once per process (see [`devices`]).
pub fn listed() -> &'static Result<Vec<Gpu>, String> {
    static LISTED: std::sync::OnceLock<Result<Vec<Gpu>, String>> = std::sync::OnceLock::new();
    LISTED.get_or_init(devices)
}

/// The device CUDA cases run on when the plan names none (ordinal 0); `Err` says why there is
/// none.
pub fn chosen() -> &'static Result<Gpu, String> {
    static CHOSEN: std::sync::OnceLock<Result<Gpu, String>> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| {
        let found = listed().clone();
        match unavailable_reason(&found) {
            Some(why) => Err(why),
            None => Ok(found.expect("a device").swap_remove(0)),
        }
    })
}

/// The `nth` CUDA device (from 0) named `name`, as a plan's device target names one; `Ok(None)`
/// when this machine has no such device, `Err` when it has no CUDA at all.
pub fn find(name: &str, nth: usize) -> Result<Option<Gpu>, String> {
    let found = listed().as_ref().map_err(|why| format!("no CUDA device: {why}"))?;
    Ok(found.iter().filter(|g| g.name == name).nth(nth).cloned())
}

/// `Ok` when the CUDA driver library can be loaded; else why not. Asked before any call into
/// the driver, which would panic without it.
pub fn driver_library() -> Result<(), String> {
    #[cfg(feature = "cuda")]
    {
        // SAFETY: only tries to open the library (and closes it again).
        if unsafe { cudarc::driver::sys::is_culib_present() } {
            Ok(())
        } else {
            Err("the CUDA driver library (libcuda.so) is not installed: no NVIDIA driver here".into())
        }
    }
    #[cfg(not(feature = "cuda"))]
    Err("built without the cuda feature".into())
}

/// `Ok` when NVRTC, which compiles the kernels at setup, can be loaded; else why not and how to
/// get it.
pub fn nvrtc_library() -> Result<(), String> {
    #[cfg(feature = "cuda")]
    {
        // SAFETY: only tries to open the library (and closes it again).
        if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            Ok(())
        } else {
            Err("NVRTC (libnvrtc.so.12), which compiles the CUDA kernels, is not installed: install the \
                 CUDA toolkit's NVRTC, or `pip install nvidia-cuda-nvrtc-cu12` and put its \
                 nvidia/cuda_nvrtc/lib on LD_LIBRARY_PATH"
                .into())
        }
    }
    #[cfg(not(feature = "cuda"))]
    Err("built without the cuda feature".into())
}

/// Every CUDA device, described; `Err` with the reason when there is no driver, it does not
/// start, or the build has no CUDA.
pub fn devices() -> Result<Vec<Gpu>, String> {
    driver_library()?;
    #[cfg(feature = "cuda")]
    {
        use cudarc::driver::result;
        result::init().map_err(|e| format!("the CUDA driver did not start: {}", driver_error(e)))?;
        let mut version = 0;
        // SAFETY: writes one int.
        let code = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) };
        code.result().map_err(|e| format!("cuDriverGetVersion failed: {}", driver_error(e)))?;
        let count =
            result::device::get_count().map_err(|e| format!("counting devices: {}", driver_error(e)))?;
        super::described(
            (0..count.max(0) as usize)
                .map(|ordinal| {
                    describe(ordinal, version).map_err(|e| format!("describing device {ordinal}: {e}"))
                })
                .collect(),
        )
    }
    #[cfg(not(feature = "cuda"))]
    unreachable!("driver_library() fails without the cuda feature")
}

/// A driver error in words: its name and the driver's sentence for it.
#[cfg(feature = "cuda")]
pub fn driver_error(e: cudarc::driver::DriverError) -> String {
    match (e.error_name(), e.error_string()) {
        (Ok(name), Ok(text)) => format!("{} ({})", name.to_string_lossy(), text.to_string_lossy()),
        _ => format!("{e:?}"),
    }
}

/// One device as `detect` lists it.
#[cfg(feature = "cuda")]
fn describe(ordinal: usize, driver_version: i32) -> Result<Gpu, String> {
    use cudarc::driver::result::device;
    use cudarc::driver::sys::CUdevice_attribute as A;
    let dev = device::get(ordinal as i32).map_err(driver_error)?;
    // SAFETY: `dev` is a device handle the driver just returned.
    let attr = |a: A| -> Result<u64, String> {
        let value = unsafe { device::get_attribute(dev, a) };
        value.map(|v| v.max(0) as u64).map_err(driver_error)
    };
    let name = device::get_name(dev).map_err(driver_error)?;
    // SAFETY: as above.
    let memory = unsafe { device::total_mem(dev) }.map_err(driver_error)? as u64;
    let (major, minor) = (
        attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
        attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
    );
    let pci_bus_id = format!(
        "{:08x}:{:02x}:{:02x}.0",
        attr(A::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)?,
        attr(A::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)?,
        attr(A::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)?
    );
    let nonzero = |v: u64| (v > 0).then_some(v);
    let memory_clock_khz = nonzero(attr(A::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)?);
    let memory_bus_bits = nonzero(attr(A::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)?);
    let mut cuda = CudaDevice {
        ordinal,
        compute_capability: format!("{major}.{minor}"),
        driver_version: version_text(driver_version),
        nvml: None,
        sm_clock_khz: nonzero(attr(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)?),
        memory_clock_khz,
        memory_bus_bits,
        peak_bandwidth_bytes_per_s: memory_clock_khz
            .zip(memory_bus_bits)
            .and_then(|(k, b)| peak_bandwidth(k, b)),
        pci_bus_id,
    };
    cuda.nvml = nvml_clocks(&cuda.pci_bus_id).ok();
    Ok(Gpu {
        name: name.trim().to_string(),
        api: API.into(),
        memory_bytes: memory,
        platform: None,
        kind: Some("gpu".into()),
        compute_units: Some(attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?),
        cache_bytes: nonzero(attr(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?),
        max_work_group_size: Some(attr(A::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?),
        version: None,
        // Every device a CUDA 12 driver supports (compute capability 5.0 and later) has fp64.
        fp64: Some(true),
        cuda: Some(cuda),
    })
}

/// NVML, loaded and initialised once per process; `Err` says why not (not installed, no
/// permission, no NVIDIA device).
#[cfg(feature = "cuda")]
fn nvml() -> Result<&'static nvml_wrapper::Nvml, String> {
    static NVML: std::sync::OnceLock<Result<nvml_wrapper::Nvml, String>> = std::sync::OnceLock::new();
    NVML.get_or_init(|| nvml_wrapper::Nvml::init().map_err(|e| format!("NVML did not load or start: {e}")))
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(not(feature = "cuda"))]
fn nvml() -> Result<(), String> {
    Err("built without the cuda feature".into())
}

/// The SM clock of the device at `pci_bus_id` now, MHz; `None` without NVML.
pub fn sm_clock_mhz(pci_bus_id: &str) -> Option<u32> {
    #[cfg(feature = "cuda")]
    {
        use nvml_wrapper::enum_wrappers::device::Clock;
        nvml().ok()?.device_by_pci_bus_id(pci_bus_id).ok()?.clock_info(Clock::SM).ok()
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = pci_bus_id;
        None
    }
}

/// NVML's clocks of the device at `pci_bus_id`.
#[cfg(feature = "cuda")]
fn nvml_clocks(pci_bus_id: &str) -> Result<NvmlClocks, String> {
    use nvml_wrapper::enum_wrappers::device::Clock;
    let device = nvml()?.device_by_pci_bus_id(pci_bus_id).map_err(|e| e.to_string())?;
    Ok(NvmlClocks {
        sm_mhz: device.clock_info(Clock::SM).map_err(|e| e.to_string())?,
        sm_max_mhz: device.max_clock_info(Clock::SM).ok(),
        memory_mhz: device.clock_info(Clock::Memory).ok(),
        throttle_reasons: device
            .current_throttle_reasons()
            .map(|r| r.iter_names().map(|(name, _)| name.to_lowercase()).collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100() -> Gpu {
        Gpu {
            name: "NVIDIA H100 80GB HBM3".into(),
            api: API.into(),
            memory_bytes: 80 << 30,
            platform: None,
            kind: Some("gpu".into()),
            compute_units: Some(132),
            cache_bytes: Some(50 << 20),
            max_work_group_size: Some(1024),
            version: None,
            fp64: Some(true),
            cuda: Some(CudaDevice {
                ordinal: 0,
                compute_capability: "9.0".into(),
                driver_version: "12.8".into(),
                pci_bus_id: "00000000:19:00.0".into(),
                sm_clock_khz: Some(1_980_000),
                memory_clock_khz: Some(2_619_000),
                memory_bus_bits: Some(5120),
                peak_bandwidth_bytes_per_s: peak_bandwidth(2_619_000, 5120),
                nvml: Some(NvmlClocks {
                    sm_mhz: 345,
                    sm_max_mhz: Some(1980),
                    memory_mhz: Some(2619),
                    throttle_reasons: vec!["gpu_idle".into()],
                }),
            }),
        }
    }

    #[test]
    fn peak_bandwidth_is_double_data_rate_times_the_bus() {
        // H100 SXM: 2619 MHz x 5120 bits, the 3.35 TB/s of its data sheet.
        let peak = peak_bandwidth(2_619_000, 5120).unwrap();
        assert!((peak - 3.35232e12).abs() < 1e6, "{peak}");
        // H200: 3201 MHz x 6144 bits, 4.9 TB/s.
        assert!((peak_bandwidth(3_201_000, 6144).unwrap() / 1e12 - 4.917).abs() < 0.001);
        assert_eq!(peak_bandwidth(0, 5120), None);
        assert_eq!(peak_bandwidth(2_619_000, 0), None);
    }

    #[test]
    fn throttled_means_under_three_quarters_of_the_default_clock() {
        // 75% of 1980 MHz is 1485 MHz.
        assert!(!throttled(1485, 1_980_000));
        assert!(throttled(1484, 1_980_000));
        assert!(!throttled(1980, 1_980_000));
        assert!(!throttled(100, 0), "no default clock: nothing to compare with");
        let ok = clock_note(Some(1980), Some(1755), Some(1_980_000)).unwrap();
        assert_eq!(ok, "SM clock 1980 MHz at the start of the case, 1755 MHz at its lowest after a sample (default 1980 MHz)");
        let hot = clock_note(Some(1980), Some(990), Some(1_980_000)).unwrap();
        assert!(hot.starts_with("throttled: SM clock 1980 MHz at the start"), "{hot}");
        assert!(hot.contains("990 MHz is under 75% of the default"), "{hot}");
        assert_eq!(clock_note(None, Some(990), Some(1_980_000)), None, "no NVML: no note");
        let unknown = clock_note(Some(10), Some(10), None).unwrap();
        assert!(!unknown.starts_with("throttled") && unknown.contains("no default clock"), "{unknown}");
    }

    #[test]
    fn driver_versions_read_as_major_dot_minor() {
        assert_eq!(version_text(12080), "12.8");
        assert_eq!(version_text(12020), "12.2");
        assert_eq!(version_text(13000), "13.0");
    }

    #[test]
    fn detect_lists_the_cuda_fields_of_a_device() {
        assert_eq!(
            h100().line(),
            "NVIDIA H100 80GB HBM3: cuda, gpu, 132 compute units, 80 GiB global memory, 50 MiB global-memory \
             cache, work-groups up to 1024, fp64, compute capability 9.0, CUDA driver 12.8, SM clock 1980 MHz, \
             memory 2619 MHz x 5120-bit bus, peak 3352 GB/s, NVML: SM 345 MHz now (max 1980), memory 2619 MHz, \
             held down by gpu_idle"
        );
        // The results keep every field.
        let g = h100();
        let back: Gpu = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn without_a_driver_the_reason_says_so_and_nothing_panics() {
        assert_eq!(unavailable_reason(&Ok(Vec::new())).unwrap(), "no CUDA device: the driver reports none");
        let found = devices();
        if cfg!(feature = "cuda") {
            // Here or not, the probe answers without panicking; a device it finds is described.
            for g in found.iter().flatten() {
                assert_eq!(g.api, API);
                assert!(g.compute_units.unwrap() > 0 && g.memory_bytes > 0, "{g:?}");
                assert!(g.cuda.is_some(), "{g:?}");
            }
            if driver_library().is_err() {
                let why = found.unwrap_err();
                assert!(why.contains("libcuda.so") && why.contains("not installed"), "{why}");
            }
        } else {
            assert_eq!(found, Err("built without the cuda feature".into()));
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = crate::machine::fixture::Synthetic::new(8 << 20, 1 << 30).detect(dir.path()).unwrap();
        probe(&mut m);
        assert_eq!(m.probed.contains(&"gpu".to_string()), cfg!(feature = "cuda"));
    }
}
