// The ims provider plugin from TypeScript through its generated SDK, @ims/pulumi (`make sdk`):
// the same program as examples/yaml - an image with its content, a public image and this image
// found with getImage (an invoke the plugin serves), the image shared with another project.
import * as pulumi from "@pulumi/pulumi";
import * as ims from "@ims/pulumi";

const config = new pulumi.Config();
const prefix = config.get("namePrefix") || "ts";
const consumer = config.get("consumerProject");

const app = new ims.ImageMetadata("app", {
    name: `${prefix}-app-2026.12`,
    diskFormat: "raw",
    minDisk: 1,
    osVersion: "Ubuntu 22.04 server 64bit",
    description: "Web front end, built by CI",
    tags: ["team=web", `stack=${pulumi.getStack()}`],
    source: new pulumi.asset.FileAsset("disk.raw"),
});

// A public image, found instead of hard-coded: the newest Ubuntu 22.04 (resolves during preview).
const base = ims.getImageOutput({
    platform: "Ubuntu",
    nameRegex: "^Ubuntu 22\\.04",
    visibility: "public",
    mostRecent: true,
});
// This stack's image, looked up once it exists (its id is an Output until then).
const found = ims.getImageOutput({ id: app.id, tags: ["team=web"] });

export const imageId = app.id;
export const status = app.status;
export const osType = app.osType;
export const platform = app.platform;
export const size = app.size;
export const baseImageId = base.id;
export const baseImageName = base.name;
export const foundName = found.name;
export const shareStatus = consumer
    ? new ims.ImageMember("share", { imageId: app.id, memberId: consumer }).status
    : undefined;
