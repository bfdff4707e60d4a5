from perfwatch.cli.main import main

raise SystemExit(main())
