"""Registry of the architecture search methods search.py runs: alphaGAN (Tian et al. 2022), AutoGAN (Gong et al.
2019) and random search. A new method is its module, which registers itself, plus its line in BUILTIN_METHODS."""

import importlib

import dnnlib

BUILTIN_METHODS = (             # Modules that register the methods search.py offers, in the order of --method.
    'nas.search.alphagan',
    'nas.search.autogan',
    'nas.search.random_search',
)

_methods = dict()               # {name: method}, filled by register() as the method modules are imported
_builtin_loaded = False         # BUILTIN_METHODS imported yet?

#----------------------------------------------------------------------------
# A method is its configure(opts, c) function, which sets c.algorithm_kwargs (a SearchAlgorithm's class_name and
# options) from search.py's options and returns the part of the run name it adds, plus what the CLI needs to know.

def register(name,
    backbones,                  # Search spaces it searches, the first one the default.
    options         = (),       # search.py options (as opts keys) read by this method and the others listing them.
    iters           = None,     # Default search iterations, None = the backbone's.
    n_critic        = 1,        # Default D steps per G step.
    val_fraction    = None,     # Share of the data in the validation split, None = one image held out.
    collapse_kwargs = None,     # health.CollapseMonitor options of its runs, None = the defaults.
    describe        = None,     # callable(algorithm, G, dataset, c) -> lines of --dry-run, None = none.
    max_candidates  = None,     # callable(c) -> (most candidates it offers --select-top, the options bounding them),
                                # None = one per iteration (the derived genotypes of the last iterations).
):
    def decorator(configure):
        _methods[name] = dnnlib.EasyDict(name=name, module=configure.__module__, configure=configure,
            backbones=list(backbones), options=tuple(options), iters=iters, n_critic=n_critic,
            val_fraction=val_fraction, collapse_kwargs=collapse_kwargs, describe=describe,
            max_candidates=max_candidates or (lambda c: (c.num_iters, f'one per iteration, --iters={c.num_iters}')))
        return configure
    return decorator

def _load_builtin():
    global _builtin_loaded
    if not _builtin_loaded:
        _builtin_loaded = True
        for module in BUILTIN_METHODS:
            importlib.import_module(module)

def names():
    """Every registered method: the built-in ones in the order of BUILTIN_METHODS, then the others."""
    _load_builtin()
    order = list(BUILTIN_METHODS)
    return sorted(_methods, key=lambda name: order.index(_methods[name].module) if _methods[name].module in order
                  else len(order)) # stable: methods of one module keep their registration order

def get(name):
    _load_builtin()
    if name not in _methods:
        raise dnnlib.util.UserError(f'--method={name}: no such method (choose from {", ".join(names())})')
    return _methods[name]

def option_methods(option):
    """The methods that read `option`, or all of them for an option no method claims."""
    claimed = [name for name in names() if option in _methods[name].options]
    return claimed or names()

#----------------------------------------------------------------------------
