"""Zero-cost proxies: training-free scores of one built network at initialisation.

Each module holds one proxy as a plain function of a network and its inputs, which knows nothing of the
search: :mod:`naswot` (Mellor et al. 2021), :mod:`synflow` (Tanaka et al. 2020), :mod:`snip` (Lee et al.
2019), :mod:`grad_norm` (Abdelfattah et al. 2021) and :mod:`zen` (Lin et al. 2021), and beside it the
search scorer it registers (``@register_scorer``), built on :mod:`scorer`'s :class:`ProxyScorer` (build the
E3D network of each candidate, seed, pick the batch, call the proxy). The scorer registry imports these
modules only when a proxy scorer is asked for, so the closed-form search never loads torch; a new proxy is
one new module here. What each computes and where it departs from its paper:
docs/method.md, "Zero-cost proxies".
"""
