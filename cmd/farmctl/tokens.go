package main

import (
	"fmt"
	"io"

	"github.com/buildfarm/buildfarm/shared/apiv1"
	"github.com/buildfarm/buildfarm/shared/farm"
)

func runTokensCreate(c *call) error {
	fs := c.flags()
	var req apiv1.TokenRequest
	fs.StringVar(&req.Role, "role", "", "`ROLE`: submitter, builder or admin (required)")
	fs.StringVar(&req.Builder, "builder", "", "for a builder token: the one builder `NAME` it acts as (required then)")
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
	}
	tok, err := c.client.CreateToken(c.ctx, req)
	if err != nil {
		return err
	}
	if err := c.show(func(w io.Writer) {
		fields(w, []field{{"token", tok.Token}, {"id", tok.ID}, {"role", tok.Role}, {"builder", tok.Builder}})
	}); err != nil {
		return err
	}
	if c.output == outputTable {
		fmt.Fprintln(c.stderr, "farmctl: the farm keeps only a hash of this token: store it now, it is not shown again")
	}
	return nil
}
