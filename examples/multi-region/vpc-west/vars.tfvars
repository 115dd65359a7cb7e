# HCL tfvars for vpc-west; infra.yaml points at this file with `tfvars:`.
cidr_block         = "10.20.0.0/16"
availability_zones = ["us-west-2a", "us-west-2b"]
tags = {
  Environment = "demo"
  Owner       = "platform"
}
