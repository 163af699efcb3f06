"""``tpf policy export --format litellm|envoy-ai-gateway``: the command-line side of the gateway exports."""

from __future__ import annotations

import argparse

from tpf.errors import PolicyError
from tpf.policy.export_semantic_router import ExportOptions


def export_gateway(args: argparse.Namespace) -> str:
    """Write the LiteLLM or Envoy AI Gateway file of ``args.file``; returns the line to print."""
    if args.bands:
        raise PolicyError(f"--bands is for --format semantic-router; for {args.format} export one band at a time "
                          "with --hour H or --carbon-g-per-kwh X")
    if args.map or args.estimator:
        raise PolicyError(f"--map and --estimator set semantic-router domains; {args.format} routes by class name")
    options = ExportOptions(hour=args.hour, carbon_g_per_kwh=args.carbon_g_per_kwh)
    if args.format == "litellm":
        from tpf.policy.export_litellm import write_litellm

        out = write_litellm(args.file, args.out, options, args.providers)
        return f"wrote {out} (LiteLLM proxy config: one model group tpf-<class> per class)"
    from tpf.policy.export_envoy_ai_gateway import write_envoy_ai_gateway

    out = write_envoy_ai_gateway(args.file, args.out, options, args.providers)
    return f"wrote {out} (Envoy AI Gateway AIGatewayRoute, header x-tpf-class)"
