#!/usr/bin/python3
"""Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) that
`skopeo copy oci:DIR:REF docker://...` can push: real gzip'ed tar layers,
config JSON with correct diff_ids, OCI manifests, and an OCI image index when
more than one platform is asked for.

    oci_layout.py DIR --ref latest --platform linux/amd64 [--platform ...] \
        --layer text:PATH:TEXT --layer random:PATH:BYTES [--cmd /hello]

Every platform gets the same layer list; text layers mention the platform so
each platform's blobs differ, as real multi-arch images' do. Random layers
are generated from a fixed seed (incompressible, but reproducible).

Prints a summary for shell tests, one record per line:
    top DIGEST MEDIATYPE               what REF points at
    manifest PLATFORM DIGEST
    config PLATFORM DIGEST SIZE
    layer PLATFORM DIGEST DIFF_ID SIZE
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CREATED = "2024-07-23T01:04:08Z"
MTIME = 1721696648


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def put(self, data):
        """Stores bytes as a blob; returns (digest, size)."""
        hexd = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.root, "blobs", "sha256", hexd)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return "sha256:" + hexd, len(data)

    def put_json(self, obj):
        return self.put(json.dumps(obj, separators=(",", ":"),
                                   sort_keys=True).encode())


def make_tar(path, data, mode):
    """A tar holding PATH (and its parent directories) with DATA."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = tarfile.TarInfo("/".join(parts[:i]) + "/")
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            d.mtime = MTIME
            t.addfile(d)
        ti = tarfile.TarInfo("/".join(parts))
        ti.size = len(data)
        ti.mode = mode
        ti.mtime = MTIME
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def layer_bytes(spec, platform, index):
    kind, _, rest = spec.partition(":")
    path, _, arg = rest.partition(":")
    if not path:
        sys.exit("oci_layout.py: bad --layer %r" % spec)
    if kind == "text":
        data = ("%s\n(%s, layer %d)\n" % (arg, platform, index)).encode()
        return make_tar(path, data, 0o755)
    if kind == "random":
        n = int(arg)
        rng = random.Random("hubgate-%s-%d-%d" % (path, index, n))
        return make_tar(path, rng.randbytes(n), 0o644)
    sys.exit("oci_layout.py: unknown layer kind %r" % kind)


def write_image(lay, platform, layer_specs, cmd, out):
    os_, _, arch = platform.partition("/")
    arch, _, variant = arch.partition("/")
    layers, diff_ids = [], []
    for i, spec in enumerate(layer_specs):
        raw = layer_bytes(spec, platform, i)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        level = 1 if len(raw) > (1 << 20) else 6
        gz = gzip.compress(raw, compresslevel=level, mtime=0)
        digest, size = lay.put(gz)
        layers.append({"mediaType": MT_LAYER, "digest": digest, "size": size})
        out.append("layer %s %s %s %d" % (platform, digest, diff_ids[-1],
                                           size))
    config = {
        "architecture": arch,
        "os": os_,
        "created": CREATED,
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "oci_layout.py %s" % s}
                    for s in layer_specs],
    }
    if variant:
        config["variant"] = variant
    cdigest, csize = lay.put_json(config)
    out.append("config %s %s %d" % (platform, cdigest, csize))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": cdigest, "size": csize},
        "layers": layers,
    }
    mdigest, msize = lay.put_json(manifest)
    out.append("manifest %s %s" % (platform, mdigest))
    desc = {"mediaType": MT_MANIFEST, "digest": mdigest, "size": msize,
            "platform": {"architecture": arch, "os": os_}}
    if variant:
        desc["platform"]["variant"] = variant
    return desc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--ref", default="latest")
    p.add_argument("--platform", action="append", required=True)
    p.add_argument("--layer", action="append", required=True)
    p.add_argument("--cmd", default="/hello")
    a = p.parse_args()

    lay = Layout(a.dir)
    out = []
    descs = [write_image(lay, pf, a.layer, [a.cmd], out) for pf in a.platform]
    if len(descs) == 1:
        top = dict(descs[0])
        del top["platform"]
    else:
        digest, size = lay.put_json({"schemaVersion": 2, "mediaType": MT_INDEX,
                                     "manifests": descs})
        top = {"mediaType": MT_INDEX, "digest": digest, "size": size}
    top["annotations"] = {"org.opencontainers.image.ref.name": a.ref}

    index_path = os.path.join(a.dir, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [
        m for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name")
        != a.ref] + [top]
    with open(index_path, "w") as f:
        json.dump(index, f)
    print("top %s %s" % (top["digest"], top["mediaType"]))
    print("\n".join(out))


if __name__ == "__main__":
    main()
