package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func runTokensCreate(c *call) error {
	fs := c.flags()
	var req apiv1.TokenRequest
	fs.StringVar(&req.Role, "role", "", "`ROLE`: submitter, builder or admin (required)")
	fs.StringVar(&req.Builder, "builder", "", "for a builder token: the one builder `NAME` it acts as (required then)")
	pools := fs.String("pools", "", "for a builder token: the only `POOLS` (comma list) it may register for and claim from")
	expiresIn := fs.Duration("expires-in", 0, "the token ends after this `DURATION` (such as 720h; default: never)")
	fs.StringVar(&req.Name, "name", "", "a `NAME` labelling the token (who or what holds it)")
	if _, err := c.parse(fs, 0, 0); err != nil {
		return err
	}
	switch {
	case req.Role == "":
		return c.usage("--role is required")
	case !farm.Role(req.Role).Valid():
		return c.usage("--role must be submitter, builder or admin, not %q", req.Role)
	case req.Role == string(farm.RoleBuilder) && req.Builder == "":
		return c.usage("a builder token needs --builder NAME")
	case *pools != "" && req.Role != string(farm.RoleBuilder):
		return c.usage("--pools binds builder tokens only")
	case *expiresIn < 0 || (*expiresIn > 0 && *expiresIn < time.Second):
		return c.usage("--expires-in must be at least 1s")
	}
	if *pools != "" {
		for _, p := range strings.Split(*pools, ",") {
			if p = strings.TrimSpace(p); p != "" {
				req.Pools = append(req.Pools, p)
			}
		}
	}
	if *expiresIn > 0 {
		secs := int64(*expiresIn / time.Second)
		req.ExpiresInSeconds = &secs
	}
	tok, err := c.client.CreateToken(c.ctx, req)
	if err != nil {
		return err
	}
	if err := c.show(func(w io.Writer) {
		fields(w, []field{{"token", tok.Token}, {"id", tok.ID}, {"role", tok.Role}, {"builder", tok.Builder},
			{"pools", strings.Join(tok.Pools, ",")}, {"expires", fmtTime(tok.ExpiresAt)}})
	}); err != nil {
		return err
	}
	if c.output == outputTable {
		fmt.Fprintln(c.stderr, "farmctl: the farm keeps only a hash of this token: store it now, it is not shown again")
	}
	return nil
}

func runTokensList(c *call) error {
	if _, err := c.parse(c.flags(), 0, 0); err != nil {
		return err
	}
	toks, err := c.client.ListTokens(c.ctx)
	if err != nil {
		return err
	}
	return c.show(func(w io.Writer) {
		row(w, "ID", "ROLE", "BUILDER", "POOLS", "NAME", "CREATED", "EXPIRES", "CREATED-BY")
		for _, t := range toks {
			row(w, t.ID, string(t.Role), t.Builder, strings.Join(t.Pools, ","), t.Name, fmtTime(&t.CreatedAt), fmtTime(t.ExpiresAt), t.CreatedBy)
		}
	})
}

func runTokensRevoke(c *call) error {
	args, err := c.parse(c.flags(), 1, 1)
	if err != nil {
		return err
	}
	if err := c.client.RevokeToken(c.ctx, args[0]); err != nil {
		return err
	}
	if c.output == outputJSON {
		return printJSON(c.stdout, map[string]any{"id": args[0], "revoked": true})
	}
	fmt.Fprintf(c.stdout, "token %s revoked\n", args[0])
	return nil
}
