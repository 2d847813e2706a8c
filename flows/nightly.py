"""The nightly reprocessing: build what changed, validate, retrain, publish a dataset version.

Publishing is ordered so that a run killed at any point leaves the last published version
whole: the data goes to the DVC remote first, then git records it (a commit holding the new
``dvc.lock``), then the tag names it. A version is tagged only once all three are done; a
run killed before the tag is completed by the next run (nothing to rebuild, so it pushes,
finds the commit made, and tags it). A failed validation publishes nothing; nor does a
remote that cannot be reached (``PublishFailed``): the built data stays in the project.

Served as a Prefect deployment on the cron schedule of ``params.yaml`` (``nightly``), or
run by hand with ``formset nightly``.
"""

from __future__ import annotations

from prefect import flow
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

from formset import gitops
from formset.config import Project
from formset.flows.build import build_and_record
from formset.locking import project_lock
from formset.stage_result import StageResult, ValidationFailed
from formset.versioning import DvcError, git_tracked_records, push


class PublishFailed(RuntimeError):
    """``dvc push`` failed (the remote is down, unreachable or refuses the credentials):
    nothing was committed or tagged, the built data stays in the workspace and DVC cache."""


def last_published(project: Project) -> str | None:
    """The newest dataset version tag, or None before the first publication."""
    return next(reversed(gitops.published_tags(str(project.root))), None)


def unpublished(project: Project) -> bool:
    """True when the committed ``dvc.lock`` differs from the last published version's."""
    tag = last_published(project)
    if tag is None:
        return True
    return gitops.git(project, "diff", "--quiet", tag, "HEAD", "--", "dvc.lock", check=False).returncode != 0


def publish(project: Project, summary: str) -> dict:
    """Push the data, commit the version records, tag the commit.

    Returns
    -------
    dict
        ``tag`` (None when the dataset is the one last published), ``commit``, ``pushed``.

    Raises
    ------
    PublishFailed
        The push failed; nothing was committed or tagged.
    """
    if not gitops.is_repo(project):
        raise gitops.GitError(f"{project.root} is not a git repository: a dataset version is a git commit and tag")
    try:
        push(project)
    except DvcError as err:
        raise PublishFailed(
            "the DVC remote did not take the data, so nothing was committed or tagged; the built data stays in "
            f"this project (workspace and DVC cache): run `formset nightly` again once the remote answers.\n{err}"
        ) from err
    commit = gitops.commit(project, git_tracked_records(project), f"Dataset version: {summary}")
    if commit is None and not unpublished(project):
        return {"tag": None, "commit": gitops.head(project), "pushed": True}
    tag = gitops.dated_tag(project, gitops.TAG_PREFIX)
    gitops.tag(project, tag, f"formset dataset version {tag}: {summary}")
    return {"tag": tag, "commit": gitops.head(project), "pushed": True}


def describe_work(results: dict[str, StageResult]) -> str:
    """One line on what a build did: the stages that computed (or ran and skipped their work)
    and the sets they computed, then the stages that skipped their work and why."""
    ran = [
        f"{result.stage} ({', '.join(result.computed_sets)})" if result.computed_sets else result.stage
        for result in results.values()
        if result.status != "reused"
    ]
    skipped = [f"{result.stage} skipped: {result.reason}" for result in results.values() if result.status == "skipped"]
    line = "rebuilt " + ", ".join(ran) if ran else "nothing rebuilt"
    return "; ".join([line, *skipped])


@flow(name="nightly", log_prints=True)
def nightly_flow(root: str | None = None, wait_s: float = 600.0) -> dict:
    """Reprocess what changed, validate, retrain and publish a dataset version.

    Parameters
    ----------
    root
        The project root (default: found from the working directory).
    wait_s
        Seconds to wait for another formset command holding the project (a manual run).

    Raises
    ------
    formset.stage_result.ValidationFailed
        A critical expectation failed: nothing was pushed, committed or tagged.
    PublishFailed
        The DVC remote did not take the data: nothing was committed or tagged.
    """
    project = Project.find(root)
    with project_lock(project, "formset nightly", wait_s):
        try:
            results = build_and_record(project)
        except ValidationFailed as err:
            print(f"Validation failed: nothing was published. {err}")
            raise
        work = describe_work(results)
        published = publish(project, work)
    if published["tag"]:
        print(f"published {published['tag']} at {published['commit'][:10]} ({work})")
    else:
        print(f"nothing changed since {last_published(project)}: no new version")
    return {"work": work, **published}


def nightly_deployment(project: Project):
    """The nightly flow as a Prefect deployment on the cron schedule of ``params.yaml``."""
    params = project.params().nightly
    return nightly_flow.to_deployment(
        name=params.deployment,
        schedule=Cron(params.cron, timezone=params.timezone),
        parameters={"root": str(project.root), "wait_s": params.wait_s},
        entrypoint_type=EntrypointType.MODULE_PATH,
        description="Reprocess what changed, validate, retrain and publish a dataset version (formset).",
    )
