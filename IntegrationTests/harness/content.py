"""Registry content made from nothing but bytes: digests, minimal image manifests, empty indexes."""
import hashlib, json

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_for(config, layer, subject=None):
    m = {"schemaVersion": 2, "mediaType": MANIFEST,
         "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
         "layers": [{"mediaType": LAYER, "digest": digest(layer), "size": len(layer)}]}
    if subject:
        m["artifactType"] = "application/vnd.berth.test"
        m["subject"] = subject
    return json.dumps(m).encode()


def empty_index(note):
    """A manifest that references nothing, so it can be pushed into any repository; `note` makes it unique."""
    return json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [],
                       "annotations": {"test": note}}).encode()
