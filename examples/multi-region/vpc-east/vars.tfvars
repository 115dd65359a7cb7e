# HCL tfvars for vpc-east; infra.yaml points at this file with `tfvars:`.
cidr_block         = "10.10.0.0/16"
availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
tags = {
  Environment = "demo"
  Owner       = "platform"
}
