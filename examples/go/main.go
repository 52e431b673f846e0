// The ims provider plugin from Go through its generated SDK (`make sdk`, sdk/go): the same
// program as examples/yaml - an image with its content, a public image and this image found with
// GetImage (an invoke the plugin serves), the image shared with another project.
package main

import (
	"github.com/ims/pulumi-ims/sdk/go/ims"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		prefix := cfg.Get("namePrefix")
		if prefix == "" {
			prefix = "go"
		}

		app, err := ims.NewImageMetadata(ctx, "app", &ims.ImageMetadataArgs{
			Name:        pulumi.Sprintf("%s-app-2026.12", prefix),
			DiskFormat:  pulumi.String("raw"),
			MinDisk:     pulumi.Int(1),
			OsVersion:   pulumi.String("Ubuntu 22.04 server 64bit"),
			Description: pulumi.String("Web front end, built by CI"),
			Tags:        pulumi.StringArray{pulumi.String("team=web"), pulumi.Sprintf("stack=%s", ctx.Stack())},
			Source:      pulumi.NewFileAsset("disk.raw"),
		})
		if err != nil {
			return err
		}

		// A public image, found instead of hard-coded: the newest Ubuntu 22.04 (resolves during preview).
		base, err := ims.GetImage(ctx, &ims.GetImageArgs{
			Platform:   pulumi.StringRef("Ubuntu"),
			NameRegex:  pulumi.StringRef(`^Ubuntu 22\.04`),
			Visibility: pulumi.StringRef("public"),
			MostRecent: pulumi.BoolRef(true),
		})
		if err != nil {
			return err
		}
		// This stack's image, looked up once it exists (its id is an Output until then).
		found := ims.GetImageOutput(ctx, ims.GetImageOutputArgs{
			Id:   app.ID().ToStringOutput(),
			Tags: pulumi.StringArray{pulumi.String("team=web")},
		})

		ctx.Export("imageId", app.ID())
		ctx.Export("status", app.Status)
		ctx.Export("osType", app.OsType)
		ctx.Export("platform", app.Platform)
		ctx.Export("size", app.Size)
		ctx.Export("baseImageId", pulumi.String(base.Id))
		ctx.Export("baseImageName", pulumi.String(base.Name))
		ctx.Export("foundName", found.Name())

		if consumer := cfg.Get("consumerProject"); consumer != "" {
			share, err := ims.NewImageMember(ctx, "share", &ims.ImageMemberArgs{
				ImageId:  app.ID().ToStringOutput(),
				MemberId: pulumi.String(consumer),
			})
			if err != nil {
				return err
			}
			ctx.Export("shareStatus", share.Status)
		}
		return nil
	})
}
