"""``maskgen export``: a checkpoint as an ONNX model, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options

DEFAULT_OPSET = 18  # the lowest opset torch's exporter writes natively (see evaluate.export)


def _onnx_output(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """A name not ending in .onnx is a usage error (exit code 2, naming the option)."""
    from maskgen.errors import OutputError
    from maskgen.evaluate.export import check_onnx_name

    try:
        check_onnx_name(value)
    except OutputError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None
    return value


@click.command(short_help="Export a checkpoint to ONNX (embedding + mask probability).")
@options.checkpoint
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_onnx_output,
    help="The .onnx file to write.",
)
@click.option(
    "--opset",
    type=click.IntRange(min=DEFAULT_OPSET),
    default=DEFAULT_OPSET,
    show_default=True,
    help="ONNX opset version, up to the newest the installed onnx package knows.",
)
@options.overwrite_file
@options.quiet
def export(model_path: Path, output_path: Path, opset: int, overwrite: bool, quiet: bool) -> None:
    """Write the network of a checkpoint as ONNX: input `input` (float32 N x 3 x 112 x 112,
    RGB, (pixel - 127.5) / 127.5, any N), outputs `embedding` (N x E, not normalised) and
    `mask_prob` (N, probability that a mask is worn; absent for a model without a mask head,
    such as a backbone.pth or a run without a twin); a --wear-classes model also `wear_prob`
    (N x 5: no mask, correct, nose/mouth/chin uncovered). The verification threshold, network
    name and maskgen version are stored as metadata. The file is kept only if onnxruntime
    matches PyTorch within 1e-3 on a random batch. An existing OUTPUT is replaced only with
    --overwrite.

    Example: maskgen export --model run/last.pt -o model.onnx
    """
    from maskgen.evaluate.export import export_onnx

    options.refuse_existing(output_path, overwrite=overwrite, inputs=(model_path,))
    options.refuse_unwritable(output_path)
    report = export_onnx(model_path, output_path, opset=opset)
    if not quiet:
        click.echo(report.summary(), err=True)
