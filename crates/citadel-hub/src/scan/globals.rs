//! Which Python globals a pickle may import: the dangerous list, the known-safe list, and the
//! classification of everything else as unknown.
//!
//! Sources (checked 2025):
//! - picklescan `src/picklescan/scanner.py` (`_unsafe_globals`, `_safe_globals`);
//! - modelscan `modelscan/settings.py` (`unsafe_globals`, CRITICAL and HIGH);
//! - PyTorch `torch/_weights_only_unpickler.py` (`_get_allowed_globals`, the globals
//!   `torch.load(weights_only=True)` accepts), for the safe list;
//! - our additions, marked below: aliases of the listed modules (`_posixsubprocess`, `_socket`,
//!   `_ctypes`, `_winapi`, `cPickle`, `urllib2`), whole modules the brief names (`platform`,
//!   `importlib`, `code`, `codeop`, `multiprocessing`, `signal`, `setuptools`, `marshal`),
//!   `builtins` members that reach code, files or attributes (`setattr`, `delattr`, `globals`,
//!   `locals`, `vars`, `input`, `help`, `execfile`, `reload`, `file`), `io.open`/`_io.open`/
//!   `codecs.open` (aliases of `open`), `types.CodeType`/`types.FunctionType` (build functions
//!   from bytecode), `torch.load`, `torch.storage._load_from_bytes` (calls `torch.load`
//!   unrestricted), `torch.hub` (downloads and runs repository code), `urllib.request`.
//!
//! `tempfile` and `builtins.dir` are left unknown (Medium): neither runs code or reaches the
//! network by itself. `functools.partial` and `operator.itemgetter` are High rather than
//! Critical: they run nothing alone, but they are the glue of every call-chaining payload and no
//! model needs them.

use super::Severity;

/// What importing a global means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// On the dangerous list: the severity and why, for the finding.
    Dangerous(Severity, &'static str),
    /// A known reconstruction global of PyTorch, NumPy or the standard containers.
    Safe,
    /// Anything else.
    Unknown,
}

const EXEC: &str = "runs code or commands";
const SYSTEM: &str = "reaches the operating system (processes, files, interpreter state)";
const NETWORK: &str = "opens network connections";
const CALLS: &str = "chains calls and attribute lookups, the glue of pickle payloads";
const LOADS: &str = "loads another pickle, which this scan cannot see";

/// Dotted paths: an entry matches the path itself and everything under it (`os` matches
/// `os.system` and `os.path.join`, not `osx.thing`).
const DANGEROUS: &[(&str, Severity, &str)] = &[
    // picklescan and modelscan: whole modules
    ("os", Severity::Critical, SYSTEM),
    ("posix", Severity::Critical, SYSTEM),
    ("nt", Severity::Critical, SYSTEM),
    ("subprocess", Severity::Critical, EXEC),
    ("sys", Severity::Critical, SYSTEM),
    ("socket", Severity::Critical, NETWORK),
    ("runpy", Severity::Critical, EXEC),
    ("shutil", Severity::Critical, SYSTEM),
    ("pty", Severity::Critical, EXEC),
    ("pickle", Severity::Critical, LOADS),
    ("_pickle", Severity::Critical, LOADS),
    ("commands", Severity::Critical, EXEC),
    ("ctypes", Severity::Critical, EXEC),
    ("asyncio", Severity::Critical, EXEC),
    ("bdb", Severity::Critical, EXEC),
    ("pdb", Severity::Critical, EXEC),
    ("timeit", Severity::Critical, EXEC),
    ("pydoc", Severity::Critical, EXEC),
    ("venv", Severity::Critical, EXEC),
    ("pip", Severity::Critical, EXEC),
    ("numpy.testing._private.utils", Severity::Critical, EXEC),
    ("numpy.f2py", Severity::Critical, EXEC),
    ("distutils", Severity::Critical, SYSTEM),
    ("webbrowser", Severity::High, NETWORK),
    ("httplib", Severity::High, NETWORK),
    ("http.client", Severity::High, NETWORK),
    ("requests.api", Severity::High, NETWORK),
    ("aiohttp", Severity::High, NETWORK),
    ("ssl", Severity::High, NETWORK),
    // picklescan lists single members of these; no model needs any part of them
    ("code", Severity::Critical, EXEC),
    ("cProfile", Severity::Critical, EXEC),
    ("profile", Severity::Critical, EXEC),
    ("trace", Severity::Critical, EXEC),
    ("ensurepip", Severity::Critical, EXEC),
    // picklescan: single members
    ("doctest.debug_script", Severity::Critical, EXEC),
    (
        "idlelib.autocomplete.AutoComplete",
        Severity::Critical,
        EXEC,
    ),
    ("idlelib.calltip", Severity::Critical, EXEC),
    (
        "idlelib.debugobj.ObjectTreeItem.SetText",
        Severity::Critical,
        EXEC,
    ),
    (
        "idlelib.pyshell.ModifiedInterpreter",
        Severity::Critical,
        EXEC,
    ),
    ("idlelib.run.Executive.runcode", Severity::Critical, EXEC),
    (
        "lib2to3.pgen2.grammar.Grammar.loads",
        Severity::Critical,
        LOADS,
    ),
    (
        "lib2to3.pgen2.pgen.ParserGenerator.make_label",
        Severity::Critical,
        EXEC,
    ),
    (
        "torch._dynamo.guards.GuardBuilder.get",
        Severity::Critical,
        EXEC,
    ),
    (
        "torch._inductor.codecache.compile_file",
        Severity::Critical,
        EXEC,
    ),
    (
        "torch.fx.experimental.symbolic_shapes.ShapeEnv.evaluate_guards_expression",
        Severity::Critical,
        EXEC,
    ),
    (
        "torch.jit.unsupported_tensor_ops.execWrapper",
        Severity::Critical,
        EXEC,
    ),
    ("torch.serialization.load", Severity::Critical, LOADS),
    (
        "torch.utils._config_module.ConfigModule.load_config",
        Severity::Critical,
        LOADS,
    ),
    ("torch.utils.bottleneck.__main__", Severity::Critical, EXEC),
    ("torch.utils.collect_env.run", Severity::Critical, EXEC),
    (
        "torch.utils.data.datapipes.utils.decoder.basichandlers",
        Severity::Critical,
        LOADS,
    ),
    ("operator.attrgetter", Severity::Critical, CALLS),
    ("operator.methodcaller", Severity::Critical, CALLS),
    ("operator.itemgetter", Severity::High, CALLS),
    ("functools.partial", Severity::High, CALLS),
    // builtins (`__builtin__` and `__builtins__` are normalized to `builtins`)
    ("builtins.eval", Severity::Critical, EXEC),
    ("builtins.exec", Severity::Critical, EXEC),
    ("builtins.execfile", Severity::Critical, EXEC),
    ("builtins.compile", Severity::Critical, EXEC),
    ("builtins.open", Severity::Critical, SYSTEM),
    ("builtins.file", Severity::Critical, SYSTEM),
    ("builtins.getattr", Severity::Critical, CALLS),
    ("builtins.setattr", Severity::Critical, CALLS),
    ("builtins.delattr", Severity::Critical, CALLS),
    ("builtins.__import__", Severity::Critical, EXEC),
    ("builtins.globals", Severity::Critical, CALLS),
    ("builtins.locals", Severity::Critical, CALLS),
    ("builtins.vars", Severity::Critical, CALLS),
    ("builtins.breakpoint", Severity::Critical, EXEC),
    ("builtins.input", Severity::Critical, EXEC),
    ("builtins.apply", Severity::Critical, CALLS),
    ("builtins.reload", Severity::Critical, EXEC),
    ("builtins.help", Severity::Critical, EXEC),
    // our additions
    ("platform", Severity::Critical, EXEC),
    ("importlib", Severity::Critical, EXEC),
    ("codeop", Severity::Critical, EXEC),
    ("multiprocessing", Severity::Critical, EXEC),
    ("signal", Severity::Critical, SYSTEM),
    ("setuptools", Severity::Critical, EXEC),
    ("marshal", Severity::Critical, EXEC),
    ("types.CodeType", Severity::Critical, EXEC),
    ("types.FunctionType", Severity::Critical, EXEC),
    ("_posixsubprocess", Severity::Critical, EXEC),
    ("_winapi", Severity::Critical, EXEC),
    ("_socket", Severity::Critical, NETWORK),
    ("_ctypes", Severity::Critical, EXEC),
    ("io.open", Severity::Critical, SYSTEM),
    ("_io.open", Severity::Critical, SYSTEM),
    ("codecs.open", Severity::Critical, SYSTEM),
    ("torch.load", Severity::Critical, LOADS),
    ("torch.storage._load_from_bytes", Severity::Critical, LOADS),
    ("torch.hub", Severity::Critical, EXEC),
    ("urllib.request", Severity::High, NETWORK),
];

/// Exact dotted paths that rebuild tensors, arrays and containers.
const SAFE: &[&str] = &[
    // the standard containers and protocol helpers
    "collections.OrderedDict",
    "collections.Counter",
    "collections.defaultdict",
    "collections.deque",
    "_codecs.encode",
    "copyreg._reconstructor",
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.range",
    "builtins.complex",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.str",
    "builtins.object",
    // torch: tensor rebuilding (as `_get_allowed_globals`)
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout",
    "torch.Size",
    "torch.Tensor",
    "torch.device",
    "torch.storage.TypedStorage",
    "torch.storage.UntypedStorage",
    // torch: legacy storage classes
    "torch.DoubleStorage",
    "torch.FloatStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "torch.ComplexFloatStorage",
    "torch.ComplexDoubleStorage",
    "torch.QUInt8Storage",
    "torch.QInt8Storage",
    "torch.QInt32Storage",
    "torch.QUInt4x2Storage",
    "torch.QUInt2x4Storage",
    // torch: tensor classes
    "torch.DoubleTensor",
    "torch.FloatTensor",
    "torch.HalfTensor",
    "torch.BFloat16Tensor",
    "torch.LongTensor",
    "torch.IntTensor",
    "torch.ShortTensor",
    "torch.CharTensor",
    "torch.ByteTensor",
    "torch.BoolTensor",
    // torch: dtypes (their `str()`)
    "torch.float64",
    "torch.float32",
    "torch.float16",
    "torch.bfloat16",
    "torch.complex32",
    "torch.complex64",
    "torch.complex128",
    "torch.uint8",
    "torch.uint16",
    "torch.uint32",
    "torch.uint64",
    "torch.int8",
    "torch.int16",
    "torch.int32",
    "torch.int64",
    "torch.bool",
    "torch.qint8",
    "torch.quint8",
    "torch.qint32",
    "torch.quint4x2",
    "torch.quint2x4",
    "torch.float8_e4m3fn",
    "torch.float8_e5m2",
    "torch.float8_e4m3fnuz",
    "torch.float8_e5m2fnuz",
    "torch.float8_e8m0fnu",
    "torch.float4_e2m1fn_x2",
    // torch: quantization schemes
    "torch.per_tensor_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_affine",
    "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams",
    // numpy arrays and scalars (1.x `numpy.core`, 2.x `numpy._core`)
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
];

/// Python 2 module names the unpickler maps to Python 3 ones (`_compat_pickle`), and C modules
/// that are the same thing as a listed module.
const ALIASES: &[(&str, &str)] = &[
    ("__builtin__", "builtins"),
    ("__builtins__", "builtins"),
    ("exceptions", "builtins"),
    ("copy_reg", "copyreg"),
    ("cPickle", "pickle"),
    ("urllib2", "urllib.request"),
    ("_operator", "operator"),
    ("_functools", "functools"),
];

/// Classifies `module.name` as the unpickler would resolve it (protocol 4 resolves dotted names
/// attribute by attribute, so `("torch", "serialization.load")` is `torch.serialization.load`).
pub(crate) fn classify(module: &str, name: &str) -> Class {
    let module = ALIASES
        .iter()
        .find(|(from, _)| *from == module)
        .map_or(module, |(_, to)| to);
    let path = format!("{module}.{name}");
    if let Some(class) = dangerous(&path) {
        return class;
    }
    // Protocol 4 walks a dotted name attribute by attribute, so `("torch._utils", "os.system")`
    // reaches `os.system` through the module's own `import os` (and `_sys.modules` through an
    // `import sys as _sys`): every suffix that still crosses an attribute is checked too.
    let starts = std::iter::once(0).chain(name.match_indices('.').map(|(at, _)| at + 1));
    for suffix in starts.filter_map(|start| name.get(start..)) {
        if !suffix.contains('.') {
            break;
        }
        if let Some(class) = dangerous(suffix.strip_prefix('_').unwrap_or(suffix)) {
            return class;
        }
    }
    // `x.__globals__`, `object.__subclasses__`, `__builtins__`...: a dunder attribute walks from
    // a harmless object to the interpreter's internals.
    if name.split('.').any(is_dunder) {
        return Class::Dangerous(
            Severity::Critical,
            "reaches interpreter internals through a dunder attribute",
        );
    }
    if SAFE.contains(&path.as_str()) {
        Class::Safe
    } else {
        Class::Unknown
    }
}

fn dangerous(path: &str) -> Option<Class> {
    DANGEROUS
        .iter()
        .find(|(entry, _, _)| under(path, entry))
        .map(|&(_, severity, why)| Class::Dangerous(severity, why))
}

fn under(path: &str, entry: &str) -> bool {
    path.strip_prefix(entry)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn is_dunder(part: &str) -> bool {
    part.len() > 4 && part.starts_with("__") && part.ends_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dangerous(module: &str, name: &str) -> bool {
        matches!(classify(module, name), Class::Dangerous(..))
    }

    #[test]
    fn modules_match_by_dotted_prefix() {
        assert!(dangerous("os", "system"));
        assert!(dangerous("os.path", "join"));
        assert!(dangerous("os", "path.join"));
        assert!(!dangerous("osx", "system"));
        assert!(!dangerous("oss", "thing"));
        assert!(dangerous("posix", "system"));
        assert!(dangerous("nt", "system"));
        assert!(dangerous("subprocess", "Popen"));
        assert!(!dangerous("subprocessing", "Popen"));
        assert!(dangerous("torch", "serialization.load"));
        assert!(dangerous("torch.serialization", "load"));
        assert!(!dangerous("torch.serialization", "_get_layout"));
        assert!(dangerous("numpy.testing._private.utils", "runstring"));
        assert!(dangerous("http.client", "HTTPSConnection"));
        assert!(!dangerous("http", "HTTPStatus"));
    }

    #[test]
    fn attribute_walks_into_dangerous_modules() {
        assert!(dangerous("torch._utils", "os.system"));
        assert!(dangerous("collections", "_sys.modules"));
        assert!(dangerous("mylib", "helpers.subprocess.Popen"));
        assert!(dangerous("mylib", "_io.open"));
        assert_eq!(classify("mylib", "Model.code"), Class::Unknown);
        assert_eq!(classify("mylib", "Outer.Inner"), Class::Unknown);
        assert_eq!(classify("torch", "_utils._rebuild_tensor_v2"), Class::Safe);
    }

    #[test]
    fn builtins_and_their_python2_names() {
        for module in ["builtins", "__builtin__", "__builtins__"] {
            for name in ["eval", "exec", "getattr", "__import__", "open", "compile"] {
                assert!(dangerous(module, name), "{module}.{name}");
            }
            assert_eq!(classify(module, "set"), Class::Safe);
        }
        assert!(dangerous("builtins", "object.__subclasses__"));
        assert!(dangerous("torch._utils", "_rebuild_tensor_v2.__globals__"));
        assert_eq!(classify("builtins", "dir"), Class::Unknown);
    }

    #[test]
    fn call_helpers() {
        assert!(dangerous("operator", "attrgetter"));
        assert!(dangerous("_operator", "methodcaller"));
        assert_eq!(
            classify("functools", "partial"),
            Class::Dangerous(Severity::High, CALLS)
        );
        assert!(dangerous("torch.storage", "_load_from_bytes"));
        assert!(dangerous("torch", "load"));
        assert!(dangerous("torch._inductor.codecache", "compile_file"));
    }

    #[test]
    fn reconstruction_globals_are_safe() {
        for (module, name) in [
            ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_parameter"),
            ("torch", "FloatStorage"),
            ("torch", "BFloat16Storage"),
            ("torch", "Size"),
            ("torch", "float32"),
            ("torch", "_utils._rebuild_tensor"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        ] {
            assert_eq!(classify(module, name), Class::Safe, "{module}.{name}");
        }
        assert_eq!(classify("mylib", "Thing"), Class::Unknown);
        assert_eq!(classify("__main__", "Model"), Class::Unknown);
        assert_eq!(classify("torch", "FloatStorageX"), Class::Unknown);
    }
}
