"""Self-contained HTML reports: one per recording, and a dataset page linking them.

Pure rendering: every function takes the rows of the tables (``RECORDINGS``, ``REPS``,
``KINEMATICS``, ``VERDICTS``, ``DISTANCES``, ``REP_SCORES``, ``SCORES`` and the catalog) and
returns HTML text; plots are matplotlib figures inlined as SVG, video frames as base64 PNG,
so a report is one file that opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG only
# Text stays text in the SVG (searchable, selectable, smaller) instead of glyph outlines.
matplotlib.rcParams["svg.fonttype"] = "none"
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from formset.catalog import COMPARE_METRICS  # noqa: E402
from formset.params import TempoParams  # noqa: E402
from formset.schemas.vocab import FAULTS  # noqa: E402
from formset.tasks.reps import tempo_sentence  # noqa: E402

#: Angles plotted over time: label -> (left column, right column) or (column,).
PLOTTED_ANGLES: dict[str, tuple[str, ...]] = {
    "knee": ("angle_left_knee", "angle_right_knee"),
    "hip": ("angle_left_hip", "angle_right_hip"),
    "ankle": ("angle_left_ankle", "angle_right_ankle"),
    "elbow": ("angle_left_elbow", "angle_right_elbow"),
    "shoulder": ("angle_left_shoulder", "angle_right_shoulder"),
    "trunk lean": ("trunk_inclination",),
}
#: Columns of ``REPS`` in a report's rep table -> their heading.
REP_COLUMNS: dict[str, str] = {
    "rep": "rep", "start_frame": "start frame", "bottom_frame": "bottom frame", "end_frame": "end frame",
    "start_s": "start (s)", "end_s": "end (s)", "duration_s": "duration (s)", "descent_s": "down (s)",
    "ascent_s": "up (s)", "depth": "depth", "range_of_motion_deg": "joint range (deg)",
}  # fmt: skip
#: Columns of ``RECORDINGS`` in a report's table of views -> their heading.
VIEW_COLUMNS: dict[str, str] = {
    "view": "view", "status": "status", "rep_count": "reps", "mean_rep_s": "mean rep (s)",
    "std_rep_s": "std (s)", "tempo_feedback": "tempo", "detail": "detail",
}  # fmt: skip
REP_COLOUR, BOTTOM_COLOUR, BEYOND_COLOUR, WITHIN_COLOUR = "#f2b134", "#c0392b", "#c0392b", "#27ae60"
FIGURE_WIDTH_IN = 9.0

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;
color:#222;padding:0 1em}h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{background:#f6f7f9;border-radius:8px;padding:.7em 1em;min-width:9em}.card b{display:block;font-size:1.4em}
.card span{color:#666;font-size:.85em}.warn{background:#fdecea;border-left:4px solid #c0392b;padding:.8em 1em;
margin:1em 0}.ok{color:#1e8449}.bad{color:#c0392b}table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
td,th{border-bottom:1px solid #e3e3e3;padding:.3em .6em;text-align:left}table{display:block;overflow-x:auto}th{background:#f6f7f9}
.frames{display:flex;flex-wrap:wrap;gap:.6em}.frames figure{margin:0}.frames img{max-height:360px;border-radius:4px}
figcaption{font-size:.85em;color:#555}.note{color:#666;font-size:.88em}svg{max-width:100%;height:auto}
"""


@dataclass
class RecordingData:
    """Everything one recording's report shows: the rows of each table for one sample.

    ``frames`` maps a caption to a BGR image (annotated video frames), possibly empty.
    ``assessment`` is what ``formset analyze`` concluded (its ``result.json``: the model's
    answer, the worst joint by each method, the version), shown first; ``made_by`` says
    which dataset version, models and references produced the report.
    """

    sample: pd.Series
    recordings: pd.DataFrame
    reps: pd.DataFrame
    kinematics: pd.DataFrame
    verdicts: pd.DataFrame
    distances: pd.DataFrame
    rep_scores: pd.DataFrame
    joint_scores: pd.DataFrame
    quarantine: pd.DataFrame
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    assessment: dict | None = None
    made_by: str = ""


def figure_svg(figure: plt.Figure) -> str:
    """The figure as inline SVG markup (closed afterwards)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def image_tag(image_bgr: np.ndarray, alt: str) -> str:
    """An ``<img>`` holding the image as a base64 PNG."""
    import cv2

    ok, png = cv2.imencode(".png", image_bgr)
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}">'


def _side_mean(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    values = frame[list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, values, 0).sum(axis=1) / present.sum(axis=1)


def _mark_reps(axis: plt.Axes, reps: pd.DataFrame, numbered: bool) -> None:
    for rep in reps.itertuples():
        axis.axvspan(rep.start_s, rep.end_s, color=REP_COLOUR, alpha=0.18, lw=0)
        axis.axvline(rep.bottom_s, color=BOTTOM_COLOUR, lw=0.8, ls=":")
        if numbered:
            axis.text((rep.start_s + rep.end_s) / 2, 0.02, f"rep {rep.rep}", transform=axis.get_xaxis_transform(),
                      ha="center", va="bottom", fontsize=8, color="#8a6d1c")  # fmt: skip


def time_series_plot(kinematics: pd.DataFrame, reps: pd.DataFrame, signal_label: str, view: str) -> str:
    """Rep signal, joint angles and moment arms over time, reps shaded, bottoms dotted (SVG)."""
    time_s = kinematics["time_s"].to_numpy()
    has_arms = kinematics[["moment_arm_hip", "moment_arm_knee"]].notna().any().any()
    rows = 3 if has_arms else 2
    figure, axes = plt.subplots(rows, 1, figsize=(FIGURE_WIDTH_IN, 2.4 * rows), sharex=True)
    axes[0].plot(time_s, kinematics["rep_signal"], color="#2c3e50", lw=1.5)
    axes[0].set_title(f"Rep signal over time ({view} view): {signal_label}", fontsize=10, loc="left")
    axes[0].set_ylabel(_signal_unit(signal_label))
    for name, columns in PLOTTED_ANGLES.items():
        values = _side_mean(kinematics, columns)
        if np.isfinite(values).any():
            axes[1].plot(time_s, values, lw=1.2, label=name)
    axes[1].set_title("Joint angles (mean of left and right; trunk: lean from vertical)", fontsize=10, loc="left")
    axes[1].set_ylabel("angle (degrees)")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if has_arms:
        axes[2].plot(time_s, kinematics["moment_arm_hip"], label="hip", color="#8e44ad")
        axes[2].plot(time_s, kinematics["moment_arm_knee"], label="knee", color="#16a085")
        axes[2].set_title("Moment arms: horizontal distance to the vertical through the mid-foot", fontsize=10, loc="left")
        axes[2].set_ylabel("distance (torso lengths)")
        axes[2].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    for row, axis in enumerate(axes):
        _mark_reps(axis, reps, numbered=row == 0)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    figure.tight_layout()
    return figure_svg(figure)


def _signal_unit(signal_label: str) -> str:
    return "angle (degrees)" if "angle" in signal_label or "inclination" in signal_label else "height (torso lengths)"


def rep_bars_plot(reps: pd.DataFrame, tempo: TempoParams) -> str:
    """Per-rep duration (with the tempo band of Kim & Heo's push-up analysis) and depth, as bars (SVG)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH_IN, 2.8))
    numbers = reps["rep"].astype(int).astype(str)
    left.bar(numbers, reps["duration_s"], color="#3498db")
    left.axhspan(tempo.too_fast_s, tempo.too_slow_s, color="#2ecc71", alpha=0.15, label="target tempo")
    left.set_title("Duration per rep", fontsize=10, loc="left")
    left.set_xlabel("rep")
    left.set_ylabel("duration (s)")
    left.legend(fontsize=8, frameon=False)
    right.bar(numbers, reps["depth"], color="#e67e22")
    right.set_title("Depth per rep (range of the rep signal)", fontsize=10, loc="left")
    right.set_xlabel("rep")
    right.set_ylabel(_signal_unit(str(reps["signal"].iloc[0])).replace("height", "depth"))
    for axis in (left, right):
        axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return figure_svg(figure)


def dtw_plot(verdicts: pd.DataFrame, distances: pd.DataFrame) -> str:
    """DTW distance per rep against the learned threshold, and per feature for the recording (SVG)."""
    reps = verdicts[verdicts["rep"].notna()].sort_values("rep")
    whole = distances[distances["rep"].isna()].dropna(subset=["distance"]).sort_values("distance").tail(12)
    figure, (left, right) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH_IN, 3.2), gridspec_kw={"width_ratios": [1, 1.3]})
    if len(reps):
        colours = np.where(reps["beyond_threshold"].fillna(False).to_numpy(dtype=bool), BEYOND_COLOUR, WITHIN_COLOUR)
        left.bar(reps["rep"].astype(int).astype(str), reps["distance"], color=colours)
        threshold = reps["threshold"].dropna()
        if len(threshold):
            left.axhline(float(threshold.iloc[0]), color="#333", ls="--", lw=1, label="learned threshold")
            left.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.18), frameon=False)
    left.set_title("DTW distance per rep", fontsize=10, loc="left")
    left.set_xlabel("rep")
    left.set_ylabel("median DTW distance (torso lengths)")
    right.barh(whole["feature"], whole["distance"], color="#7f8c8d")
    right.set_title("Whole recording: farthest features", fontsize=10, loc="left")
    right.set_xlabel("DTW distance (torso lengths)")
    right.set_ylabel("feature (joint, axis)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure_svg(figure)


def joint_scores_plot(rep_scores: pd.DataFrame, joint_scores: pd.DataFrame) -> str:
    """Per-joint closeness to correct executions: the recording's, and per rep as a heat map (SVG)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH_IN, 3.4), gridspec_kw={"width_ratios": [1, 1.2]})
    recording = joint_scores.sort_values("score")
    left.barh(recording["joint"], recording["score"], color=plt.cm.RdYlGn(recording["score"].fillna(0).to_numpy()))
    left.set_xlim(0, 1)
    left.set_title("Per-joint score, whole recording", fontsize=10, loc="left")
    left.set_xlabel("score (0 far from, 1 on correct executions)")
    left.set_ylabel("joint")
    if len(rep_scores):
        grid = rep_scores.pivot_table(index="joint", columns="rep", values="score", dropna=False)
        grid = grid.reindex(recording["joint"]) if len(recording) else grid
        image = right.imshow(grid.to_numpy(dtype=np.float64), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        right.set_yticks(range(len(grid.index)), grid.index, fontsize=8)
        right.set_xticks(range(len(grid.columns)), [str(int(c)) for c in grid.columns])
        figure.colorbar(image, ax=right, label="score (0-1)")
    right.set_title("Per-joint score per rep", fontsize=10, loc="left")
    right.set_xlabel("rep")
    right.set_ylabel("joint")
    figure.tight_layout()
    return figure_svg(figure)


def _card(value: str, label: str, css: str = "") -> str:
    return f'<div class="card"><b class="{css}">{html.escape(value)}</b><span>{html.escape(label)}</span></div>'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="–", float_format=lambda v: f"{v:.2f}")


def _labels_html(sample: pd.Series) -> str:
    label = sample.get("label")
    if not isinstance(label, str) or not label:
        return "<p>Not labeled.</p>"
    faults = [f.removeprefix("fault_").replace("_", " ") for f in FAULTS if sample.get(f) == 1]
    css = "ok" if label == "correct" else "bad"
    return f'<p>Label: <b class="{css}">{label}</b>' + (f"; faults: {', '.join(faults)}" if faults else "") + "</p>"


def _words(name: str | None) -> str:
    return str(name).replace("_", " ") if name else "–"


def assessment_html(assessment: dict) -> str:
    """The model's answer, in a coach's words: correct or incorrect with its probability,
    the faults with theirs, and the worst joint by each method side by side."""
    model = assessment["model"]
    if model["available"]:
        said = model["predicted"]
        probability = model[f"p_{said}"]
        parts = [f'<div class="cards">{_card(said, "the model says", "ok" if said == "correct" else "bad")}'
                 f'{_card(f"{probability:.0%}", f"probability of {said}")}</div>']  # fmt: skip
        faults = model.get("faults") or {}
        if faults:
            items = "".join(f"<li>{html.escape(words)}: {p:.0%}</li>" for words, p in sorted(faults.items(), key=lambda f: -f[1]))
            parts.append(f"<p>Faults the model sees:</p><ul>{items}</ul>")
        elif model.get("faults_why"):
            parts.append(f"<p class='note'>{html.escape(model['faults_why'])}.</p>")
    else:
        parts = [f"<p class='note'>No model answer: {html.escape(model['why'])}.</p>"]
    joint = assessment["worst_joint"]
    if joint["dtw"] or joint["cluster"]:
        if joint["agree"]:
            parts.append(f"<p>Farthest from correct executions: <b class='bad'>{_words(joint['dtw'])}</b> "
                         "(both the movement over time and the positions reached say so).</p>")  # fmt: skip
        else:
            parts.append(
                "<table><tr><th>method</th><th>worst joint</th><th>what it means</th></tr>"
                f"<tr><td>DTW</td><td>{_words(joint['dtw_feature'])}</td><td>the joint whose path over time "
                "differs most from correct executions</td></tr>"
                f"<tr><td>clusters</td><td>{_words(joint['cluster'])}</td><td>the joint whose positions lie "
                "farthest from any position seen in correct executions</td></tr></table>"
            )
    return "<h2>Assessment</h2>" + "".join(parts)


def render_recording(data: RecordingData, tempo: TempoParams) -> str:
    """The HTML report of one recording.

    Parameters
    ----------
    data
        The recording's rows (see ``RecordingData``).
    tempo
        ``params.reps.tempo`` (the target band drawn on the duration plot).

    Returns
    -------
    str
        A complete, self-contained HTML document.
    """
    sample = data.sample
    title = data.assessment["recording"] if data.assessment else f"{sample['set_id']}/{sample['sample_id']}"
    primary = data.recordings[data.recordings["primary_view"]].iloc[0] if len(data.recordings) else None
    view = primary["view"] if primary is not None else None
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class='note'>{html.escape(str(sample['exercise']).replace('_', ' '))} by subject "
             f"{html.escape(str(sample['subject_id']))}" + (f"; reps, plots and comparison from the <b>{view}</b> view"
                                                            if view else "") + "</p>",
             _labels_html(sample)]  # fmt: skip
    if data.assessment is not None:
        parts.append(assessment_html(data.assessment))
    if primary is None or primary["status"] != "ok":
        reason = primary["detail"] if primary is not None else "this sample has no rep results (run `formset run`)"
        status = primary["status"] if primary is not None else "not_built"
        quarantine = "".join(f"<li>{html.escape(r.stage)}: {html.escape(r.reason)} — {html.escape(r.detail)}</li>"
                             for r in data.quarantine.itertuples())  # fmt: skip
        parts.append(f'<div class="warn"><b>No reps found ({html.escape(status)}).</b> {html.escape(str(reason))}.'
                     + (f"<ul>{quarantine}</ul>" if quarantine else "") + "</div>")  # fmt: skip
    reps = data.reps[data.reps["view"] == view].sort_values("rep") if view else data.reps.iloc[:0]
    recording_verdict = data.verdicts[(data.verdicts["view"] == view) & data.verdicts["rep"].isna()]
    cards = []
    if primary is not None:
        labeled = primary["labeled_rep_count"]
        cards.append(_card(str(primary["rep_count"]), "reps found" + (f" ({int(labeled)} labeled)" if pd.notna(labeled) else "")))
        if primary["status"] == "ok":
            cards.append(_card(f"{primary['mean_rep_s']:.2f} s", "mean rep duration"))
            std = primary["std_rep_s"]
            cards.append(_card(f"{std:.2f} s" if pd.notna(std) else "–", "std of rep duration"))
            cards.append(_card(f"{primary['exercise_s']:.1f} s", "exercise time"))
            good = primary["tempo_feedback"] == "good tempo"
            cards.append(_card(primary["tempo_feedback"], "tempo feedback", "ok" if good else "bad"))
    if not (len(recording_verdict) and pd.notna(recording_verdict["distance"].iloc[0])):
        cards.append(_card("no comparable references", "DTW says (needs correct executions of this exercise, view and source)"))
    else:
        verdict = recording_verdict.iloc[0]
        beyond = None if pd.isna(verdict["beyond_threshold"]) else bool(verdict["beyond_threshold"])
        said = {True: "unlike correct", False: "like correct", None: "no threshold"}[beyond]
        threshold = "no threshold" if pd.isna(verdict["threshold"]) else f"threshold {verdict['threshold']:.3f}"
        cards.append(_card(f"{verdict['distance']:.3f}", f"DTW distance to correct executions ({threshold})"))
        cards.append(_card(said, "DTW says", "bad" if beyond else "ok"))
    joint_scores = data.joint_scores[data.joint_scores["view"] == view] if view else data.joint_scores.iloc[:0]
    if joint_scores["score"].notna().any():
        worst = joint_scores.sort_values("score").iloc[0]
        cards.append(_card(_words(worst["joint"]), f"clusters: positions farthest from correct ones (score {worst['score']:.2f})", "bad"))
    if len(recording_verdict) and isinstance(recording_verdict["most_distant_feature"].iloc[0], str):
        cards.append(_card(_words(recording_verdict["most_distant_feature"].iloc[0]), "DTW: movement over time farthest from correct", "bad"))
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    if data.frames:
        figures = "".join(f"<figure>{image_tag(image, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
                          for caption, image in data.frames.items())  # fmt: skip
        parts.append(f'<h2>Video frames with the skeleton</h2><div class="frames">{figures}</div>')
    kinematics = data.kinematics[data.kinematics["view"] == view] if view else data.kinematics.iloc[:0]
    if len(kinematics):
        signal = reps["signal"].iloc[0] if len(reps) else "rep signal"
        parts.append("<h2>Over time</h2>" + time_series_plot(kinematics.sort_values("frame"), reps, signal, view))
    if len(reps):
        sentence = tempo_sentence(reps["duration_s"].to_numpy(dtype=np.float64), tempo)
        parts.append(f"<h2>Reps</h2><p>{html.escape(sentence)}</p>" + rep_bars_plot(reps, tempo))
        shown = reps[list(REP_COLUMNS)].rename(columns=REP_COLUMNS)
        parts.append(_table(shown))
    views = data.recordings[list(VIEW_COLUMNS)].rename(columns=VIEW_COLUMNS)
    parts.append("<h2>Every view</h2>" + _table(views))
    view_verdicts = data.verdicts[data.verdicts["view"] == view] if view else data.verdicts.iloc[:0]
    if view_verdicts["distance"].notna().any():
        view_distances = data.distances[data.distances["view"] == view]
        parts.append("<h2>Comparison with correct executions (DTW)</h2>"
                     "<p class='note'>Median over features and over correct executions of other people; the threshold "
                     f"is learned from the labeled data ({COMPARE_METRICS.path}).</p>" + dtw_plot(view_verdicts, view_distances))  # fmt: skip
    if joint_scores["score"].notna().any():
        rep_scores = data.rep_scores[data.rep_scores["view"] == view]
        parts.append("<h2>Which joint deviates most</h2>"
                     "<p class='note'>DBSCAN clusters of correct executions per joint (METHODS 004): 1 on a cluster, "
                     "0 far from every one.</p>" + joint_scores_plot(rep_scores, joint_scores))  # fmt: skip
    if data.made_by:
        parts.append(f"<p class='note'>Made by: {html.escape(data.made_by)}</p>")
    return _document(title, "".join(parts))


def _document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} – formset</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")  # fmt: skip


def render_index(rows: pd.DataFrame, metrics: dict | None) -> str:
    """The dataset page: every recording with its result, linking to its report.

    Parameters
    ----------
    rows
        One row per sample: ``set_id``, ``sample_id``, ``exercise``, ``label``, ``status``,
        ``rep_count``, ``labeled_rep_count``, ``tempo_feedback``, ``distance``,
        ``beyond_threshold`` and ``href`` (the report's path relative to the page).
    metrics
        The content of ``metrics/compare.json``, or None.
    """
    shown = rows.assign(
        sample=[f'<a href="{html.escape(h)}">{html.escape(s)}/{html.escape(i)}</a>'
                for h, s, i in zip(rows["href"], rows["set_id"], rows["sample_id"])],  # fmt: skip
        DTW=[("–" if pd.isna(d) else f"{d:.3f}" + ("" if pd.isna(b) else " ✗" if b else " ✓"))
             for d, b in zip(rows["distance"], rows["beyond_threshold"])],  # fmt: skip
    )[["sample", "exercise", "label", "status", "rep_count", "labeled_rep_count", "tempo_feedback", "DTW"]]
    shown = shown.rename(columns={"rep_count": "reps", "labeled_rep_count": "labeled reps", "tempo_feedback": "tempo"})
    counted = rows[rows["labeled_rep_count"].notna() & (rows["labeled_rep_count"] > 0)]
    exact = (counted["rep_count"] == counted["labeled_rep_count"]).mean() if len(counted) else np.nan
    cards = [_card(str(len(rows)), "recordings"), _card(str(int((rows["status"] == "ok").sum())), "with reps"),
             _card("–" if np.isnan(exact) else f"{exact:.0%}", "rep counts exact (labeled)")]  # fmt: skip
    if metrics:
        for scope in ("recording", "rep"):
            auc = (metrics.get(scope) or {}).get("auc_mean")
            cards.append(_card("–" if auc is None else f"{auc:.2f}", f"DTW AUC, per {scope} (mean over groups)"))
    body = ("<h1>formset: recordings</h1><p class='note'>Reps, tempo, comparison with correct executions and per-joint "
            f"scores. ✗: DTW distance above the learned threshold.</p><div class='cards'>{''.join(cards)}</div>"
            + shown.to_html(index=False, border=0, escape=False, na_rep="–"))  # fmt: skip
    return _document("formset recordings", body)
