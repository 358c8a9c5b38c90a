"""`meshcode compile --commit`: commits exactly what meshcode owns, summarises it, refuses hand edits."""
from __future__ import annotations

from pathlib import Path

from git import Repo

from meshcode.state.canary import CanaryState
from meshcode.delivery.store import save_state
from meshcode.gitops.git import FolderCounts, commit_message
from tests.support.gitops import (
    cli,
    committed_paths,
    init_repo,
    shop_stack,
    write_stack,
)

VS = "generated/prod/shop/virtualservice-cart.yaml"


def repo_project(make_project, **kw) -> tuple[Path, Repo]:
    root = make_project(shop=shop_stack(**kw))
    return root, init_repo(root)


def commit(root: Path, *args: str):
    result = cli("compile", "--commit", *args, root=root)
    return result


def test_first_commit_holds_generated_tree_and_nothing_else(make_project) -> None:
    root, repo = repo_project(make_project)
    (root / "README.md").write_text("mine\n")
    repo.index.add(["README.md"])  # the user's own staged change
    (root / "notes.txt").write_text("untracked\n")
    write_stack(root, "shop", shop_stack(20))  # an uncommitted stack edit
    result = commit(root)
    assert result.exit_code == 0, result.output
    paths = committed_paths(repo)
    # the output and the stack edit it was compiled from (issue 13: a clean checkout must pass --check)
    assert paths and all(p.startswith("generated/") or p == "stacks/shop.py" for p in paths)
    assert "generated/.meshcode-manifest" in paths and VS in paths and "stacks/shop.py" in paths
    assert "generated/argocd/argocd/applicationset-shop.yaml" in paths
    # the user's other work is exactly as it was: README still staged, notes untracked
    status = repo.git.status("--porcelain").splitlines()
    assert set(status) == {"A  README.md", "?? notes.txt"}
    assert f"committed {repo.head.commit.hexsha[:12]}" in result.stdout


def test_message_counts_objects_per_cluster(make_project) -> None:
    root, repo = repo_project(make_project, with_catalog=True)
    assert commit(root).exit_code == 0
    subject = repo.head.commit.message.splitlines()[0]
    assert subject == "meshcode compile: argocd +2, prod +6, staging +6"
    write_stack(root, "shop", shop_stack(30))  # cart weight changes; catalog goes
    assert commit(root).exit_code == 0
    msg = repo.head.commit.message
    assert msg.splitlines()[0] == "meshcode compile: prod ~1 -2, staging ~1 -2"
    assert "prod         0        1        2" in msg  # the table: added, changed, removed
    removed = [p for p in committed_paths(repo) if "catalog" in p]
    assert len(removed) == 4 and not any((root / p).exists() for p in removed)
    assert repo.git.show("--format=", "--name-status", "HEAD").count("D\tgenerated/") == 4


def test_custom_subject_keeps_the_summary(make_project) -> None:
    root, repo = repo_project(make_project)
    assert commit(root, "-m", "shop: first rollout").exit_code == 0
    lines = repo.head.commit.message.splitlines()
    assert lines[0] == "shop: first rollout" and any(line.startswith("prod ") for line in lines)


def test_no_commit_when_nothing_changed(make_project) -> None:
    root, repo = repo_project(make_project)
    assert commit(root).exit_code == 0
    head = repo.head.commit.hexsha
    result = commit(root)
    assert result.exit_code == 0 and "nothing to commit" in result.stdout
    assert repo.head.commit.hexsha == head


def test_a_plain_compile_is_committed_by_the_next_commit(make_project) -> None:
    root, repo = repo_project(make_project)
    assert cli("compile", root=root).exit_code == 0  # written but not committed
    result = commit(root)
    assert "compiled 1 mesh(es)" in result.stdout and "0 added, 0 changed" in result.stdout
    assert result.stdout.count("committed ") == 1 and VS in committed_paths(repo)


def test_hand_edit_is_refused_naming_the_file_unless_forced(make_project) -> None:
    root, repo = repo_project(make_project)
    assert commit(root).exit_code == 0
    head = repo.head.commit.hexsha
    edited = (root / VS).read_text().replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50")
    (root / VS).write_text(edited)
    write_stack(root, "shop", shop_stack(20))
    result = commit(root)
    assert result.exit_code == 1
    assert "MC4003" in result.output and f"edited   {VS}" in result.output and "--force" in result.output
    assert repo.head.commit.hexsha == head and (root / VS).read_text() == edited  # nothing written
    result = commit(root, "--force")
    assert result.exit_code == 0, result.output
    assert "weight: 20" in (root / VS).read_text() and VS in committed_paths(repo)


def test_deleted_generated_file_counts_as_a_hand_edit(make_project) -> None:
    root, _repo = repo_project(make_project)
    assert commit(root).exit_code == 0
    (root / VS).unlink()
    result = commit(root)
    assert result.exit_code == 1 and f"deleted  {VS}" in result.output


def test_foreign_files_in_generated_are_never_committed(make_project) -> None:
    root, repo = repo_project(make_project)
    assert commit(root).exit_code == 0
    (root / "generated/prod/shop/extra.yaml").write_text("kind: ConfigMap\n")
    write_stack(root, "shop", shop_stack(60))
    assert commit(root).exit_code == 0
    assert "generated/prod/shop/extra.yaml" not in committed_paths(repo)
    assert "?? generated/prod/shop/extra.yaml" in repo.git.status("--porcelain", "--untracked-files=all")


def test_canary_state_is_committed_with_the_output_it_produced(make_project) -> None:
    root, repo = repo_project(make_project)
    assert commit(root).exit_code == 0
    state = root / "state"
    save_state(state, "shop/shop/cart", CanaryState(name="cart", phase="progressing", step=1, weight=35))
    (state / "canaries/shop/shop/cart.json.tmp-99").write_text("{half")  # a killed writer's leftover
    result = commit(root)
    assert result.exit_code == 0, result.output
    paths = committed_paths(repo)
    assert "state/canaries/shop/shop/cart.json" in paths and VS in paths
    assert not any(".tmp-" in p for p in paths)
    assert "weight: 35" in (root / VS).read_text()
    msg = repo.head.commit.message
    assert "canary state (1 file(s))" in msg.splitlines()[0]
    assert "added    state/canaries/shop/shop/cart.json" in msg


def test_refuses_outside_a_repository_and_bad_option_mixes(make_project) -> None:
    root = make_project(shop=shop_stack())
    result = commit(root)
    assert result.exit_code == 1 and "not inside a git repository" in result.output
    assert not (root / "generated").exists()
    assert cli("compile", "--commit", "--check", root=root).exit_code == 1
    assert cli("compile", "--force", root=root).exit_code == 1


def test_commit_message_shape() -> None:
    msg = commit_message(None, {"prod": FolderCounts(1, 2, 0)}, [("M", "state/canaries/a/b/c.json")])
    assert msg.splitlines()[0] == "meshcode compile: prod +1 ~2; canary state (1 file(s))"
    assert "  changed  state/canaries/a/b/c.json" in msg
    assert commit_message("x", {}, []).splitlines()[0] == "x"


def test_the_commit_holds_the_stack_edits_and_a_clean_checkout_passes_check(make_project, tmp_path) -> None:
    """Issue 13: `compile --commit` committed generated/ without the stacks that produced it."""
    root, repo = repo_project(make_project)
    write_stack(root, "shop", shop_stack(40))          # changed
    write_stack(root, "extra", shop_stack(5).replace('Mesh("shop", clusters=[Cluster("prod"), Cluster("staging")]',
                                                      'Mesh("extra", clusters=[Cluster("qa")]'))  # new
    (root / "stacks" / "__pycache__").mkdir(exist_ok=True)
    (root / "stacks" / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"\0")
    result = commit(root)
    assert result.exit_code == 0, result.output
    paths = committed_paths(repo)
    assert {"stacks/shop.py", "stacks/extra.py"} <= set(paths) and not any("__pycache__" in p for p in paths)
    message = repo.head.commit.message
    assert "stacks (the intent this output was compiled from):" in message
    assert "  changed  stacks/shop.py" in message and "  added    stacks/extra.py" in message
    clone = Repo.clone_from(root, tmp_path / "clone")
    checked = cli("compile", "--check", root=Path(clone.working_tree_dir))
    assert checked.exit_code == 0, checked.output
    (root / "stacks" / "extra.py").unlink()             # a deleted stack is committed as a deletion
    assert commit(root).exit_code == 0
    assert "D\tstacks/extra.py" in repo.git.show("--format=", "--name-status", "HEAD")


def test_an_uncommitted_input_outside_the_stacks_is_refused_before_writing(make_project) -> None:
    root = make_project(shop=shop_stack().replace(
        "W = 10", "from pathlib import Path\nW = int((Path(__file__).parent.parent / 'weights.txt').read_text())"))
    (root / "weights.txt").write_text("10\n")
    repo = init_repo(root)
    assert commit(root).exit_code == 0
    head = repo.head.commit.hexsha
    (root / "weights.txt").write_text("35\n")
    before = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    result = commit(root)
    assert result.exit_code == 1
    assert "error MC4007" in result.output and "weights.txt" in result.output and "commit them first" in result.output
    assert repo.head.commit.hexsha == head
    assert {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()} == before
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + "# edited\n")
    repo.git.add("weights.txt")
    repo.git.commit("-q", "-m", "weights")
    result = commit(root)
    assert result.exit_code == 1 and "pyproject.toml" in result.output
    repo.git.checkout("pyproject.toml")
    assert commit(root).exit_code == 0  # committed inputs: the output follows
